# scripts/storage/kiln-storage against a real S3 server (versitygw over a directory) and a real
# HTTP server (busybox httpd), run by busybox sh with only busybox applets and rclone on PATH and
# only the environment the controller gives the storage container:
#   fetch with the right digest and with "-" gives the object's bytes; a wrong digest, wrong
#   credentials, a missing key or bucket and a closed port each exit 1 with one termination-log line
#   naming the uri and the cause, and leave no file behind; bad arguments exit 2;
#   upload of a directory (a file in a subdirectory, a symlink skipped) creates the objects, read
#   back with rclone itself, and its JSON line carries sha256sum's digests;
#   upload-artifact and fetch-artifact move a file and a directory (its manifest digest checked)
#   to and from the bucket, a missing artifact exits 3 naming its path;
#   http:// goes through rclone copyurl.
# Then the image's cold path: `scripts/images build storage` into an empty image cache writes
# storage.tar, whose root filesystem (user 65532, entrypoint kiln-storage) fetches from the same
# server under chroot (as root only; umoci needs it).
# Usage: kiln_storage_fetches_and_uploads.sh ROOT
set -euo pipefail
ROOT="$1"
TOOL="$ROOT/scripts/storage/kiln-storage"
fail() { echo "FAIL: $*" >&2; exit 1; }

tmp=$(mktemp -d -t kiln-storage-test.XXXXXX)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The container's PATH: busybox applets and rclone only.
bin="$tmp/bin"
mkdir -p "$bin"
for applet in $(busybox --list); do ln -s "$(command -v busybox)" "$bin/$applet"; done
ln -s "$(command -v rclone)" "$bin/rclone"

# The S3 server and a bucket.
versitygw=$("$ROOT/scripts/go-tool" versitygw) || fail "go-tool versitygw"
s3_port=$(free_port)
mkdir -p "$tmp/s3"
"$versitygw" --access kiln-test --secret kiln-test-secret --port "127.0.0.1:$s3_port" \
  posix "$tmp/s3" >"$tmp/versitygw.log" 2>&1 &
pids+=($!)
endpoint="http://127.0.0.1:$s3_port"
# The test's own client: rclone with explicit flags (AWS_CA_BUNDLE breaks rclone 1.60's S3 client).
client() {
  env -u AWS_CA_BUNDLE RCLONE_CONFIG=/dev/null rclone --retries 1 --low-level-retries 1 \
    --s3-provider Other --s3-endpoint "$endpoint" --s3-region us-east-1 --s3-force-path-style \
    --s3-access-key-id kiln-test --s3-secret-access-key kiln-test-secret "$@"
}
for _ in $(seq 100); do
  client lsd :s3: >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$tmp/versitygw.log" >&2; fail "versitygw exited"; }
  sleep 0.1
done
client mkdir :s3:models || fail "rclone mkdir of the bucket"

head -c 300000 /dev/urandom >"$tmp/model.bin"
client copyto "$tmp/model.bin" :s3:models/team/m1/model.bin || fail "rclone copyto of the model"
digest="sha256:$(sha256sum "$tmp/model.bin" | cut -d' ' -f1)"
uri=s3://models/team/m1/model.bin

tlog="$tmp/termination-log"
# Runs the tool as the storage container would: busybox sh, the container's PATH and env only.
# Extra NAME=VALUE arguments before the command override the environment. Sets rc and out.
storage() {
  local env=(PATH="$bin" HOME=/nonexistent KILN_TERMINATION_LOG="$tlog"
    RCLONE_S3_PROVIDER=Other RCLONE_S3_ENV_AUTH=true RCLONE_S3_ENDPOINT="$endpoint"
    RCLONE_S3_REGION=us-east-1 RCLONE_S3_FORCE_PATH_STYLE=true RCLONE_GCS_ENV_AUTH=true
    AWS_ACCESS_KEY_ID=kiln-test AWS_SECRET_ACCESS_KEY=kiln-test-secret)
  while [[ "${1:-}" == *=* ]]; do env+=("$1"); shift; done
  rm -f "$tlog"
  rc=0
  out=$(env -i "${env[@]}" timeout 120 busybox sh "$TOOL" "$@" 2>"$tmp/stderr") || rc=$?
}
# The termination log holds exactly one line, equal to the last line on stderr.
one_line() {
  [ -f "$tlog" ] || fail "$1: no termination log was written"
  [ "$(wc -l <"$tlog")" -eq 1 ] || fail "$1: the termination log is not one line: $(cat "$tlog")"
  [ "$(cat "$tlog")" = "$(tail -1 "$tmp/stderr")" ] ||
    fail "$1: stderr does not end with the termination log's line: $(cat "$tmp/stderr")"
}
expect_failure() { # name expected-line
  [ "$rc" -eq 1 ] || fail "$1: exit $rc, expected 1 ($(cat "$tmp/stderr"))"
  one_line "$1"
  [ "$(cat "$tlog")" = "$2" ] || fail "$1: the termination log says '$(cat "$tlog")', expected '$2'"
  echo "ok: $1 -> $2"
}
no_leftovers() { # dir
  [ -z "$(ls -A "$1" 2>/dev/null)" ] || fail "a failed fetch left files in $1: $(ls -A "$1")"
}

# 1. Fetch: the right digest, "-", and two files in one call.
storage fetch "$uri" "$tmp/out/a/model.bin" "$digest"
[ "$rc" -eq 0 ] || fail "fetch with the right digest: exit $rc: $(cat "$tmp/stderr")"
cmp -s "$tmp/model.bin" "$tmp/out/a/model.bin" || fail "the fetched model differs from the object"
storage fetch "$uri" "$tmp/out/b/model.bin" - "$uri" "$tmp/out/b/copy.bin" "$digest"
[ "$rc" -eq 0 ] || fail "fetch of two files: exit $rc: $(cat "$tmp/stderr")"
cmp -s "$tmp/model.bin" "$tmp/out/b/model.bin" || fail "the model fetched without a digest differs"
cmp -s "$tmp/model.bin" "$tmp/out/b/copy.bin" || fail "the second file of one call differs"
[ "$(ls -A "$tmp/out/b")" = "$(printf 'copy.bin\nmodel.bin')" ] ||
  fail "fetch left more than its files: $(ls -A "$tmp/out/b")"
client copyto "$tmp/model.bin" :s3:models/top.bin || fail "rclone copyto of the top-level object"
storage fetch s3://models/top.bin "$tmp/out/b/top.bin" "$digest"
[ "$rc" -eq 0 ] || fail "fetch of a key without a '/': exit $rc: $(cat "$tmp/stderr")"
cmp -s "$tmp/model.bin" "$tmp/out/b/top.bin" || fail "the top-level object fetched differs"
echo "ok: fetch with a digest, with '-', of two files and of a top-level key gives the bytes"

# 2. A wrong digest: exit 1, the line names the uri and both digests, no file is left.
wrong="sha256:$(printf 'not the model' | sha256sum | cut -d' ' -f1)"
storage fetch "$uri" "$tmp/out/c/model.bin" "$wrong"
expect_failure "wrong digest" "$uri: digest mismatch: got $digest, want $wrong"
no_leftovers "$tmp/out/c"

# 3. Wrong credentials: a wrong secret is 403 SignatureDoesNotMatch; an access key versitygw does
#    not know is answered 404 XAdminUserNotFound (its answer, not S3's 403 InvalidAccessKeyId).
storage AWS_SECRET_ACCESS_KEY=wrong fetch "$uri" "$tmp/out/d/model.bin" -
expect_failure "wrong secret" "$uri: 403 SignatureDoesNotMatch"
no_leftovers "$tmp/out/d"
storage AWS_ACCESS_KEY_ID=nobody fetch "$uri" "$tmp/out/d/model.bin" -
expect_failure "unknown access key" "$uri: 404 XAdminUserNotFound"
no_leftovers "$tmp/out/d"

# 4. A missing key (the HEAD's 404 carries no code) and a missing bucket.
storage fetch s3://models/team/m1/missing.bin "$tmp/out/e/model.bin" -
expect_failure "missing key" "s3://models/team/m1/missing.bin: 404 Not Found"
no_leftovers "$tmp/out/e"
storage fetch s3://no-such-bucket/model.bin "$tmp/out/e/model.bin" -
expect_failure "missing bucket" "s3://no-such-bucket/model.bin: 404 NoSuchBucket"
no_leftovers "$tmp/out/e"

# 5. An unreachable endpoint (a port nobody listens on) fails, and does not hang (timeout 120 in
#    storage() would exit 124).
closed=$(free_port)
storage RCLONE_S3_ENDPOINT="http://127.0.0.1:$closed" fetch "$uri" "$tmp/out/f/model.bin" -
expect_failure "closed port" "$uri: unreachable endpoint http://127.0.0.1:$closed: connection refused"
no_leftovers "$tmp/out/f"

# 6. The rest of the environment: a CA bundle that is not there; a gs:// service account key
#    (GOOGLE_APPLICATION_CREDENTIALS_JSON) reaches rclone, which reads it before any request.
storage RCLONE_CA_CERT="$tmp/no-such-ca.pem" fetch "$uri" "$tmp/out/f/model.bin" -
expect_failure "missing CA bundle" \
  "$uri: failed to read --ca-cert: open $tmp/no-such-ca.pem: no such file or directory"
storage GOOGLE_APPLICATION_CREDENTIALS_JSON='{"type": "service_account", "private_key": "x"}' \
  fetch gs://models/model.bin "$tmp/out/f/model.bin" -
[ "$rc" -eq 1 ] || fail "gs:// with a bad service account key: exit $rc"
one_line "gs:// with a bad key"
grep -q '^gs://models/model.bin: .*private key' "$tlog" ||
  fail "gs:// with a bad key: the line does not name the key: $(cat "$tlog")"
no_leftovers "$tmp/out/f"
echo "ok: gs:// with a bad key -> $(cat "$tlog")"

# 7. Bad arguments exit 2 with a line naming the problem.
storage fetch "$uri" "$tmp/out/g/model.bin" sha256:1234
[ "$rc" -eq 2 ] || fail "a short digest: exit $rc, expected 2"
one_line "short digest"
grep -q "digest 'sha256:1234' is not sha256:<64 hex digits>" "$tlog" ||
  fail "the short digest's line does not name it: $(cat "$tlog")"
storage fetch ftp://host/model.bin "$tmp/out/g/model.bin" -
[ "$rc" -eq 2 ] && grep -q "'ftp://host/model.bin' is not an s3://" "$tlog" ||
  fail "an ftp:// uri: exit $rc, $(cat "$tlog" 2>/dev/null)"
storage fetch "$uri" "$tmp/out/g/model.bin"
[ "$rc" -eq 2 ] || fail "fetch without a digest: exit $rc, expected 2"
storage
[ "$rc" -eq 2 ] || fail "no command: exit $rc, expected 2"
no_leftovers "$tmp/out/g"
echo "ok: bad arguments exit 2 naming the problem"

# 8. Upload: a file at the top, one in a subdirectory (with a quote in its name), a symlink skipped.
src="$tmp/run"
mkdir -p "$src/metrics"
echo '{"auc": 0.91}' >"$src/model.json"
printf 'rmse "0.3"\n' >"$src/metrics/eval \"final\".txt"
ln -s model.json "$src/latest"
storage upload "$src" s3://models/runs/r1/
[ "$rc" -eq 0 ] || fail "upload: exit $rc: $(cat "$tmp/stderr")"
[ "$(cat "$tlog")" = "$out" ] || fail "upload's termination log differs from its stdout"
keys=$(client lsf -R --files-only :s3:models/runs/r1)
[ "$keys" = "$(printf 'metrics/eval "final".txt\nmodel.json')" ] ||
  fail "the bucket holds '$keys' under runs/r1, expected the two files (no symlink)"
for rel in model.json 'metrics/eval "final".txt'; do
  client cat ":s3:models/runs/r1/$rel" | cmp -s - "$src/$rel" || fail "s3 object $rel differs"
  want="sha256:$(sha256sum "$src/$rel" | cut -d' ' -f1)"
  got=$(jq -r --arg rel "$rel" '.uploaded[$rel].digest' <<<"$out") || fail "upload's line: $out"
  [ "$got" = "$want" ] || fail "upload's digest of $rel is $got, sha256sum says $want"
  got=$(jq -r --arg rel "$rel" '.uploaded[$rel].uri' <<<"$out")
  [ "$got" = "s3://models/runs/r1/$rel" ] || fail "upload's uri of $rel is $got"
done
[ "$(jq '.uploaded | length' <<<"$out")" -eq 2 ] || fail "upload's line lists other files: $out"
echo "ok: upload -> $out"
storage upload "$src" s3://no-such-bucket/r1
expect_failure "upload to a missing bucket" "s3://no-such-bucket/r1: 404 NoSuchBucket"
# A result line over the termination log's 4096 bytes is refused before anything is sent.
mkdir -p "$tmp/many"
for i in $(seq 40); do echo "$i" >"$tmp/many/a-rather-long-file-name-for-the-result-line-$i.txt"; done
storage upload "$tmp/many" s3://models/runs/many
[ "$rc" -eq 1 ] || fail "upload of 40 long names: exit $rc, expected 1"
one_line "upload of 40 long names"
grep -q '^s3://models/runs/many: too many files: the result line would be [0-9]* bytes, over 4096$' \
  "$tlog" || fail "upload of 40 long names: $(cat "$tlog")"
[ -z "$(client lsf :s3:models/runs/many)" ] || fail "the refused upload sent files"
echo "ok: upload of 40 long names -> $(cat "$tlog")"

# 9. DataPipeline artifacts: upload-artifact of a file (the object at the uri, its sha256) and of a
#    directory (objects under uri/, the manifest digest as coreutils' sha256sum computes it), a
#    missing path (exit 3 naming it), a missing bucket; fetch-artifact of both back, a directory
#    replacing what was at its destination, a wrong digest leaving it as it was, an empty prefix.
storage upload-artifact "$src/model.json" s3://models/pipes/p/r/train/model
[ "$rc" -eq 0 ] || fail "upload-artifact of a file: exit $rc: $(cat "$tmp/stderr")"
[ "$(cat "$tlog")" = "$out" ] || fail "upload-artifact's termination log differs from its stdout"
want="sha256:$(sha256sum "$src/model.json" | cut -d' ' -f1)"
[ "$(jq -r .digest <<<"$out")" = "$want" ] || fail "upload-artifact's file digest: $out"
[ "$(jq -r .uri <<<"$out")" = s3://models/pipes/p/r/train/model ] ||
  fail "upload-artifact's file uri: $out"
client cat :s3:models/pipes/p/r/train/model | cmp -s - "$src/model.json" ||
  fail "the file artifact's object differs"
file_digest="$want"
storage upload-artifact "$src" s3://models/pipes/p/r/train/run-dir
[ "$rc" -eq 0 ] || fail "upload-artifact of a directory: exit $rc: $(cat "$tmp/stderr")"
manifest=$(cd "$src" && find . -type f | sed 's|^\./||' | LC_ALL=C sort |
  while IFS= read -r rel; do sha256sum "$rel"; done)
want="sha256:$(printf '%s\n' "$manifest" | sha256sum | cut -d' ' -f1)"
[ "$(jq -r .digest <<<"$out")" = "$want" ] || fail "upload-artifact's manifest digest: $out"
[ "$(jq -r .uri <<<"$out")" = s3://models/pipes/p/r/train/run-dir/ ] ||
  fail "upload-artifact's directory uri: $out"
keys=$(client lsf -R --files-only :s3:models/pipes/p/r/train/run-dir)
[ "$keys" = "$(printf 'metrics/eval "final".txt\nmodel.json')" ] ||
  fail "the directory artifact's objects are '$keys'"
dir_digest="$want"
echo "ok: upload-artifact of a file and a directory -> $out"
storage upload-artifact "$src/no-such" s3://models/pipes/p/r/train/gone
[ "$rc" -eq 3 ] || fail "upload-artifact of a missing path: exit $rc, expected 3"
one_line "upload-artifact of a missing path"
[ "$(cat "$tlog")" = "s3://models/pipes/p/r/train/gone: no file or directory at $src/no-such" ] ||
  fail "upload-artifact of a missing path: $(cat "$tlog")"
storage upload-artifact "$src/model.json" s3://no-such-bucket/p/model
expect_failure "upload-artifact to a missing bucket" "s3://no-such-bucket/p/model: 404 NoSuchBucket"
storage fetch-artifact s3://models/pipes/p/r/train/model "$tmp/ws/in/model" "$file_digest"
[ "$rc" -eq 0 ] || fail "fetch-artifact of a file: exit $rc: $(cat "$tmp/stderr")"
cmp -s "$src/model.json" "$tmp/ws/in/model" || fail "the fetched file artifact differs"
mkdir -p "$tmp/ws/in/run-dir"
echo stale >"$tmp/ws/in/run-dir/stale.txt"
storage fetch-artifact s3://models/pipes/p/r/train/run-dir/ "$tmp/ws/in/run-dir" "$dir_digest"
[ "$rc" -eq 0 ] || fail "fetch-artifact of a directory: exit $rc: $(cat "$tmp/stderr")"
[ "$(cd "$src" && find . -type f | LC_ALL=C sort)" = \
  "$(cd "$tmp/ws/in/run-dir" && find . | LC_ALL=C sort | grep -v -x -e . -e ./metrics)" ] ||
  fail "the fetched directory holds $(cd "$tmp/ws/in/run-dir" && find . | tr '\n' ' ')"
cmp -s "$src/metrics/eval \"final\".txt" "$tmp/ws/in/run-dir/metrics/eval \"final\".txt" ||
  fail "a file of the fetched directory differs"
[ "$(ls -A "$tmp/ws/in" | tr '\n' ' ')" = "model run-dir " ] ||
  fail "fetch-artifact left more than its files: $(ls -A "$tmp/ws/in")"
storage fetch-artifact s3://models/pipes/p/r/train/run-dir/ "$tmp/ws/in/run-dir" "$wrong"
expect_failure "fetch-artifact with a wrong digest" \
  "s3://models/pipes/p/r/train/run-dir/: digest mismatch: got $dir_digest, want $wrong"
cmp -s "$src/model.json" "$tmp/ws/in/run-dir/model.json" ||
  fail "a refused directory fetch changed its destination"
storage fetch-artifact s3://models/pipes/p/r/nothing/ "$tmp/ws/in/nothing" -
expect_failure "fetch-artifact of an empty prefix" "s3://models/pipes/p/r/nothing/: not found"
[ ! -e "$tmp/ws/in/nothing" ] || fail "fetch-artifact of an empty prefix made its destination"
echo "ok: fetch-artifact of a file and a directory gives the bytes; a wrong digest changes nothing"
# A second upload of a directory to the same uri (a retried step) leaves exactly its files, so
# the prefix matches the digest it reports; a symbolic link is refused.
mkdir -p "$tmp/smaller"
echo one >"$tmp/smaller/one.txt"
storage upload-artifact "$tmp/smaller" s3://models/pipes/p/r/train/run-dir
[ "$rc" -eq 0 ] || fail "a second upload-artifact of a directory: exit $rc: $(cat "$tmp/stderr")"
keys=$(client lsf -R --files-only :s3:models/pipes/p/r/train/run-dir)
[ "$keys" = one.txt ] || fail "after a smaller re-upload the prefix holds '$keys'"
storage fetch-artifact s3://models/pipes/p/r/train/run-dir/ "$tmp/ws/in/again" "$(jq -r .digest <<<"$out")"
[ "$rc" -eq 0 ] || fail "fetch-artifact after a re-upload: exit $rc: $(cat "$tmp/stderr")"
ln -s /etc/hostname "$tmp/link"
storage upload-artifact "$tmp/link" s3://models/pipes/p/r/train/link
expect_failure "upload-artifact of a symbolic link" \
  "s3://models/pipes/p/r/train/link: $tmp/link is a symbolic link"
[ -z "$(client lsf :s3:models/pipes/p/r/train/ | grep -x link)" ] || fail "the symbolic link was uploaded"

# 10. http:// through rclone copyurl (busybox httpd).
mkdir -p "$tmp/www"
cp "$tmp/model.bin" "$tmp/www/model.bin"
http_port=$(free_port)
busybox httpd -f -p "127.0.0.1:$http_port" -h "$tmp/www" &
pids+=($!)
for _ in $(seq 100); do
  busybox wget -q -O /dev/null "http://127.0.0.1:$http_port/model.bin" 2>/dev/null && break
  sleep 0.1
done
storage fetch "http://127.0.0.1:$http_port/model.bin" "$tmp/out/h/model.bin" "$digest"
[ "$rc" -eq 0 ] || fail "http fetch: exit $rc: $(cat "$tmp/stderr")"
cmp -s "$tmp/model.bin" "$tmp/out/h/model.bin" || fail "the model fetched over http differs"
storage fetch "http://127.0.0.1:$http_port/missing.bin" "$tmp/out/i/model.bin" -
expect_failure "http missing" "http://127.0.0.1:$http_port/missing.bin: 404 Not Found"
no_leftovers "$tmp/out/i"

# 11. The image from an empty image cache, and its root filesystem at work.
if [ "$(id -u)" -ne 0 ]; then
  echo "PASS (the image's cold path was not checked: scripts/images needs root)"
  exit 0
fi
KILN_CACHE_DIR="$tmp/cache" "$ROOT/scripts/images" build storage || fail "scripts/images build storage"
tar="$tmp/cache/images/storage.tar"
[ -s "$tar" ] || fail "no storage.tar in the empty image cache"
config=$(skopeo inspect --config "docker-archive:$tar") || fail "skopeo cannot read $tar"
[ "$(jq -r .config.User <<<"$config")" = 65532:65532 ] || fail "the image's user: $config"
[ "$(jq -c .config.Entrypoint <<<"$config")" = '["/usr/local/bin/kiln-storage"]' ] ||
  fail "the image's entrypoint: $config"
skopeo copy --quiet "docker-archive:$tar" "oci:$tmp/oci:storage" || fail "skopeo copy of $tar"
umoci unpack --image "$tmp/oci:storage" "$tmp/bundle" >/dev/null || fail "umoci unpack"
rootfs="$tmp/bundle/rootfs"
cmp -s "$TOOL" "$rootfs/usr/local/bin/kiln-storage" || fail "the image's kiln-storage differs"
[ -s "$rootfs/etc/ssl/certs/ca-certificates.crt" ] || fail "the image has no CA bundle"
mkdir -p "$rootfs/tmp/models" "$rootfs/dev"
mknod -m 0666 "$rootfs/dev/null" c 1 3  # The container runtime's /dev; chroot has none.
chown 65532:65532 "$rootfs/tmp/models"
rc=0
env -i PATH=/usr/local/bin:/usr/bin:/bin KILN_TERMINATION_LOG=/tmp/models/termination-log \
  RCLONE_S3_PROVIDER=Other RCLONE_S3_ENV_AUTH=true RCLONE_S3_ENDPOINT="$endpoint" \
  RCLONE_S3_REGION=us-east-1 RCLONE_S3_FORCE_PATH_STYLE=true \
  AWS_ACCESS_KEY_ID=kiln-test AWS_SECRET_ACCESS_KEY=kiln-test-secret \
  "$(command -v timeout)" 120 "$(command -v chroot)" --userspec=65532:65532 "$rootfs" \
  /usr/local/bin/kiln-storage \
  fetch "$uri" /tmp/models/model.bin "$digest" >"$tmp/stderr" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "the image's kiln-storage as 65532: exit $rc: $(cat "$tmp/stderr")"
cmp -s "$tmp/model.bin" "$rootfs/tmp/models/model.bin" || fail "the image fetched other bytes"
echo "ok: scripts/images build storage from an empty cache; its kiln-storage fetches as 65532"
echo "PASS"
