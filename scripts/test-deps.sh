#!/usr/bin/env bash
# Installs what the integration tests need, when missing and running as root.
# Without root it only says what is missing: those tests skip with a reason.
set -u
need_pkgs=()
command -v ffmpeg >/dev/null || need_pkgs+=(ffmpeg)
command -v ffprobe >/dev/null || need_pkgs+=(ffmpeg)
{ command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || need_pkgs+=(postgresql)
command -v sha256sum >/dev/null || need_pkgs+=(coreutils)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test-deps: installing ${need_pkgs[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  else
    echo "test-deps: missing ${need_pkgs[*]} and not root: the tests that need them will be skipped"
  fi
fi
gobin=$(go env GOPATH)/bin
if ! command -v versitygw >/dev/null && [ ! -x "$gobin/versitygw" ]; then
  echo "test-deps: installing versitygw (S3 server for the S3 contract tests)"
  go install github.com/versity/versitygw/cmd/versitygw@v1.8.0 || echo "test-deps: versitygw could not be installed: S3 tests will be skipped"
fi
exit 0
