DROP TABLE simulated_payments;
DROP TABLE refunds;
DROP TABLE payments;
ALTER TABLE applications DROP COLUMN payment_status;
