package server

import "testing"

func TestContentDisposition(t *testing.T) {
	cases := []struct{ disp, name, want string }{
		{"attachment", "a.mp4", `attachment; filename="a.mp4"; filename*=UTF-8''a.mp4`},
		{"inline", "Résumé.pdf", `inline; filename="R_sum_.pdf"; filename*=UTF-8''R%C3%A9sum%C3%A9.pdf`},
		{"", `x"y\z%.txt`, `attachment; filename="x_y_z_.txt"; filename*=UTF-8''x%22y%5Cz%25.txt`},
		{"attachment", "a b;c", `attachment; filename="a b;c"; filename*=UTF-8''a%20b%3Bc`},
		{"attachment", "", `attachment`},
		{"inline", "a\xffb\x01\x7f~", `inline; filename="a_b__~"; filename*=UTF-8''a%FFb%01%7F~`},
		{"bogus", "日本.txt", `attachment; filename="__.txt"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt`},
	}
	for _, c := range cases {
		if got := contentDisposition(c.disp, c.name); got != c.want {
			t.Errorf("contentDisposition(%q, %q) = %s, want %s", c.disp, c.name, got, c.want)
		}
	}
}

func TestReprDigest(t *testing.T) {
	// sha256("") in hex and its base64.
	got := reprDigest("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	if want := "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"; got != want {
		t.Fatalf("reprDigest = %s, want %s", got, want)
	}
}
