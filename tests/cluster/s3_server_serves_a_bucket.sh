# The local cluster's S3 server (versitygw, every tier; here the control-plane one) serves the bucket
# kiln to a client we did not write (rclone, configured by environment as the kiln/storage tool is)
# with the credentials of the Secret default/kiln-s3; it refuses wrong credentials; s3-secret writes
# an equal Secret into another namespace; the credentials and objects outlive a second up and a
# restart of the server; down stops it, deletes the data and closes the port.
source "$(dirname "$0")/cluster_env.sh"
command -v rclone >/dev/null || fail "rclone is not installed (scripts/setup.sh cluster)"
work="$KILN_CLUSTER_DIR/s3-test"
mkdir -p "$work"
: > "$work/rclone.conf"

# secret_data NAMESPACE NAME KEY: one decoded value of a Secret.
secret_data() {
  kc -n "$1" get secret "$2" -o jsonpath="{.data.$3}" | base64 -d
}

# s3 ACCESS_KEY SECRET_KEY RCLONE_ARGS...: rclone against the endpoint of the Secret, with the
# given credentials (env_auth, as the storage tool's containers get them); one try per call. The
# host's AWS_CA_BUNDLE, if any, is dropped: with env_auth rclone 1.60 fails on it
# (LoadCustomCABundleError), and the endpoint is plain HTTP.
s3() {
  local key="$1" secret="$2"
  shift 2
  env -u AWS_CA_BUNDLE RCLONE_CONFIG="$work/rclone.conf" RCLONE_S3_PROVIDER=Other RCLONE_S3_ENV_AUTH=true \
    RCLONE_S3_ENDPOINT="$endpoint" RCLONE_S3_REGION="$region" RCLONE_S3_FORCE_PATH_STYLE=true \
    AWS_ACCESS_KEY_ID="$key" AWS_SECRET_ACCESS_KEY="$secret" \
    rclone --retries 1 --low-level-retries 1 "$@"
}

up control-plane
endpoint=$(secret_data default kiln-s3 endpoint)
region=$(secret_data default kiln-s3 region)
bucket=$(secret_data default kiln-s3 bucket)
key=$(secret_data default kiln-s3 AWS_ACCESS_KEY_ID)
secret=$(secret_data default kiln-s3 AWS_SECRET_ACCESS_KEY)
[ "$bucket" = kiln ] || fail "Secret kiln-s3 names bucket '$bucket'"
[ "$region" = us-east-1 ] || fail "Secret kiln-s3 names region '$region'"
[[ "$endpoint" =~ ^http://[0-9.]+:$KILN_S3_PORT$ ]] || fail "Secret kiln-s3 names endpoint '$endpoint'"
[ ${#key} -eq 20 ] && [ ${#secret} -eq 40 ] || fail "credentials of unexpected length: ${#key}/${#secret}"
# 'up' names the endpoint on the line before KUBECONFIG=, and status names it too.
[ "$(printf '%s\n' "$UP_OUTPUT" | tail -n 2 | head -n 1)" = "S3=$endpoint" ] ||
  fail "up did not print S3=$endpoint before its last line: $UP_OUTPUT"
status=$("$CLUSTER" status)
[[ "$status" == *"S3: $endpoint "* ]] || fail "status does not name the S3 endpoint: $status"
# The credentials are not on the server's command line.
vgw_pid=$(cat "$KILN_CLUSTER_DIR/run/versitygw.pid")
argv=$(tr '\0' ' ' < "/proc/$vgw_pid/cmdline")
[[ "$argv" == *versitygw* && "$argv" != *"$secret"* ]] || fail "versitygw's argv: $argv"

# Upload, list, download: the same bytes.
head -c 1048577 /dev/urandom > "$work/blob.bin"
s3 "$key" "$secret" copyto "$work/blob.bin" ":s3:kiln/models/blob.bin" || fail "upload failed"
listing=$(s3 "$key" "$secret" lsf ":s3:kiln/models") || fail "list failed"
[ "$listing" = blob.bin ] || fail "listing of kiln/models is '$listing'"
s3 "$key" "$secret" copyto ":s3:kiln/models/blob.bin" "$work/back.bin" || fail "download failed"
cmp "$work/blob.bin" "$work/back.bin" || fail "downloaded bytes differ"
[ -f "$KILN_CLUSTER_DIR/s3/data/kiln/models/blob.bin" ] || fail "the object is not under s3/data"

# Wrong credentials are refused, with versitygw's S3 error codes.
if s3 "$key" "${secret%?}x" lsf ":s3:kiln/models" > "$work/out" 2> "$work/err"; then
  fail "a wrong secret listed the bucket: $(cat "$work/out")"
fi
grep -q "SignatureDoesNotMatch" "$work/err" && grep -q "status code: 403" "$work/err" ||
  fail "a wrong secret did not answer 403 SignatureDoesNotMatch: $(tail -5 "$work/err")"
if s3 "AKIAWRONGWRONGWRONG0" "$secret" copyto "$work/blob.bin" ":s3:kiln/models/evil.bin" \
  > "$work/out" 2> "$work/err"; then
  fail "an unknown access key uploaded an object"
fi
# (AWS answers 403 InvalidAccessKeyId; versitygw v1.8.0 in single-account mode 404 XAdminUserNotFound.)
grep -q "XAdminUserNotFound" "$work/err" && grep -q "status code: 404" "$work/err" ||
  fail "an unknown access key did not answer 404 XAdminUserNotFound: $(tail -5 "$work/err")"
[ ! -e "$KILN_CLUSTER_DIR/s3/data/kiln/models/evil.bin" ] || fail "the refused upload was stored"

# s3-secret: an equal Secret in another namespace, under the default name or another, idempotent.
kc create namespace s3-test > /dev/null
"$CLUSTER" s3-secret s3-test || fail "s3-secret s3-test failed"
"$CLUSTER" s3-secret s3-test || fail "a second s3-secret s3-test failed"
"$CLUSTER" s3-secret s3-test storage-credentials || fail "s3-secret s3-test storage-credentials failed"
want=$(kc -n default get secret kiln-s3 -o jsonpath='{.data}')
[ "$(kc -n s3-test get secret kiln-s3 -o jsonpath='{.data}')" = "$want" ] ||
  fail "s3-test/kiln-s3 differs from default/kiln-s3"
[ "$(kc -n s3-test get secret storage-credentials -o jsonpath='{.data}')" = "$want" ] ||
  fail "s3-test/storage-credentials differs from default/kiln-s3"
if "$CLUSTER" s3-secret no-such-namespace 2> "$work/err"; then
  fail "s3-secret into a missing namespace succeeded"
fi
grep -q "namespace 'no-such-namespace' does not exist" "$work/err" ||
  fail "s3-secret into a missing namespace said: $(cat "$work/err")"

# A second up keeps the server; after a restart of the server, a third up serves the same
# credentials and the object is still there.
up control-plane
[ "$(cat "$KILN_CLUSTER_DIR/run/versitygw.pid")" = "$vgw_pid" ] || fail "a second up restarted versitygw"
kill -TERM "$vgw_pid"
while kill -0 "$vgw_pid" 2>/dev/null; do sleep 0.1; done
up control-plane
[ "$(cat "$KILN_CLUSTER_DIR/run/versitygw.pid")" != "$vgw_pid" ] || fail "up did not restart versitygw"
[ "$(kc -n default get secret kiln-s3 -o jsonpath='{.data}')" = "$want" ] ||
  fail "the Secret changed after a restart of the S3 server"
rm -f "$work/back.bin"
s3 "$key" "$secret" copyto ":s3:kiln/models/blob.bin" "$work/back.bin" ||
  fail "the credentials or the object did not outlive a restart"
cmp "$work/blob.bin" "$work/back.bin" || fail "the object changed across a restart"

# down: the server stops, its data goes, its port closes; the credentials stay for the next up.
"$CLUSTER" down
vgw_pid=$(cat "$KILN_CLUSTER_DIR/run/versitygw.pid" 2>/dev/null || true)
[ -z "$vgw_pid" ] || fail "versitygw's pid file is left after down"
if ss -Hltn "sport = :$KILN_S3_PORT" | grep -q .; then fail "port $KILN_S3_PORT listens after down"; fi
if curl -s -o /dev/null "$endpoint/health"; then fail "$endpoint still answers after down"; fi
[ ! -e "$KILN_CLUSTER_DIR/s3/data" ] || fail "s3/data is left after down"
[ "$(sed -n 's/^AWS_ACCESS_KEY_ID=//p' "$KILN_CLUSTER_DIR/s3/credentials")" = "$key" ] ||
  fail "down did not keep the credentials"
echo "PASS: S3 server of the local cluster"
