#!/bin/sh
# Throughput of palyra run's masking beside cat, on the same stream in the
# same run: SIZE bytes of base64 text (default 200 MB) written by a child
# (cat FILE) through `palyra run` (one secret injected, masked), and
# through `cat` in a pipe. Needs palyra and palyrad on PATH (go build -o bin/
# ./cmd/palyra ./cmd/palyrad). Usage: run_throughput.sh [SIZE_BYTES]
set -eu
size=${1:-200000000}
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
head -c $((size * 3 / 4)) /dev/urandom | base64 -w 76 | head -c "$size" > "$dir/stream"
# A secret of base64 characters only, like the stream around it, stored,
# then planted in the stream a few times.
printf %s 'skThroughput0123456789abcdefABCDEF' > "$dir/secret"
for i in 1 2 3; do cat "$dir/secret" >> "$dir/stream"; head -c 1000 /dev/urandom | base64 >> "$dir/stream"; done
palyrad --state-dir "$dir/state" --listen 127.0.0.1:0 2>"$dir/palyrad.log" & pid=$!
while [ ! -e "$dir/state/palyrad.addr" ]; do sleep 0.1; done
palyra --state-dir "$dir/state" vault put global/throughput < "$dir/secret" 2>/dev/null
bytes=$(wc -c < "$dir/stream")
cat "$dir/stream" > /dev/null # warm the page cache
now() { date +%s.%N; }
mbps() { echo "$bytes $1 $2" | awk '{printf "%.0f", $1 / ($3 - $2) / 1e6}'; }
t0=$(now); cat "$dir/stream" | cat > "$dir/out.cat"; t1=$(now)
palyra --state-dir "$dir/state" run --env K=vault://global/throughput -- cat "$dir/stream" > "$dir/out.run"; t2=$(now)
masked=$(grep -c 'vault://global/throughput' "$dir/out.run" || true)
leaked=$(grep -c 'skThroughput' "$dir/out.run" || true)
echo "stream: $bytes bytes; cat | cat: $(mbps "$t0" "$t1") MB/s; palyra run -- cat: $(mbps "$t1" "$t2") MB/s; masked lines: $masked; leaked: $leaked"
