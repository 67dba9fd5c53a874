DROP TRIGGER attachments_queue_file_removal ON attachments;
DROP FUNCTION attachments_queue_file_removal();
DROP TABLE storage_cleanup;
DROP TABLE attachments;
