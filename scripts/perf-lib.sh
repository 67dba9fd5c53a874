# Shared by scripts/perf.sh and scripts/perf-scale.sh (sourced, not run).

# serve_private WORK: starts the release binary on the private cluster the environment names,
# waits until it listens, stops it when the calling script exits; sets SERVER and PGPORT.
serve_private() {
  local work=$1
  target/release/mynorfolk serve > "$work/serve.log" 2>&1 &
  SERVER=$!
  trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
  until grep -q "listening on" "$work/serve.log"; do
    kill -0 $SERVER 2>/dev/null || { cat "$work/serve.log"; exit 1; }
    sleep 0.1
  done
  PGPORT=$(grep -o 'port [0-9]*' "$work/serve.log" | head -1 | cut -d' ' -f2)
}
