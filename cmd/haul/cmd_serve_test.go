package main

import (
	"strings"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	cases := map[string]int64{"1024": 1024, "500K": 500 << 10, "20M": 20 << 20, "10G": 10 << 30, "1T": 1 << 40, "64GiB": 64 << 30, "2gb": 2 << 30}
	for in, want := range cases {
		if got, err := parseByteSize(in); err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1", "0", "5Q"} {
		if _, err := parseByteSize(bad); err == nil {
			t.Errorf("parseByteSize(%q) accepted", bad)
		}
	}
}

func TestParseTrustProxy(t *testing.T) {
	nets, err := parseTrustProxy([]string{"10.0.0.0/8, 127.0.0.1", "::1"})
	if err != nil || len(nets) != 3 || nets[1].String() != "127.0.0.1/32" || nets[2].String() != "::1/128" {
		t.Fatalf("%v %v", nets, err)
	}
	if _, err := parseTrustProxy([]string{"proxy.local"}); err == nil {
		t.Fatal("hostname accepted")
	}
}

func TestServeUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--rate-limit", "bogus=1/1m", "--addr", "127.0.0.1:0"},
		{"serve", "--trust-proxy", "nope", "--addr", "127.0.0.1:0"},
		{"serve", "--public-url", "ftp://x", "--addr", "127.0.0.1:0"},
		{"serve", "--max-upload-size", "lots", "--addr", "127.0.0.1:0"},
	} {
		io, _, errOut := testIO()
		dir := t.TempDir()
		code := run(t.Context(), append(args, "--data", dir), func(k string) string {
			if k == "XDG_CONFIG_HOME" {
				return dir
			}
			return ""
		}, io)
		if code != exitUsage || !strings.Contains(errOut.String(), "haul:") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}
