package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestChargenLines(t *testing.T) {
	// RFC 864: the 95 printing characters starting with space, 72 per
	// line, each line starting one character further, CR LF after each.
	if got := string(chargenLine(0)); got != ` !"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`+"`"+`abcdefg`+"\r\n" {
		t.Errorf("line 0 = %q", got)
	}
	if got := string(chargenLine(1)); !strings.HasPrefix(got, `!"#$`) || !strings.HasSuffix(got, "fgh\r\n") {
		t.Errorf("line 1 = %q", got)
	}
	for i := range 95 {
		l := chargenLine(i)
		if len(l) != 74 || l[0] != byte(' '+i) {
			t.Fatalf("line %d = %q", i, l)
		}
		for _, c := range l[:72] {
			if c < ' ' || c > '~' {
				t.Fatalf("line %d has %q", i, c)
			}
		}
	}
}

func TestServeChargen(t *testing.T) {
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() { serveChargen(a); close(done) }()
	buf := make([]byte, 74*96)
	if _, err := io.ReadFull(b, buf); err != nil {
		t.Fatal(err)
	}
	for i := range 96 {
		if got, want := buf[i*74:(i+1)*74], chargenLine(i%95); !bytes.Equal(got, want) {
			t.Fatalf("line %d = %q, want %q", i, got, want)
		}
	}
	b.Close()
	<-done
}

func TestServeEchoAndDiscard(t *testing.T) {
	a, b := net.Pipe()
	go func() { serveEcho(a); a.Close() }()
	go b.Write([]byte("hello"))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(b, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("echo: %q %v", buf, err)
	}
	b.Close()

	c, d := net.Pipe()
	done := make(chan struct{})
	go func() { serveDiscard(c); close(done) }()
	if _, err := d.Write(make([]byte, 100000)); err != nil {
		t.Fatal(err)
	}
	d.Close()
	<-done
}

func TestBytesHandler(t *testing.T) {
	h := httpHandler(nil, statusPublic)
	tests := []struct {
		url    string
		status int
		n      int
	}{
		{"/bytes?n=0", 200, 0},
		{"/bytes?n=1", 200, 1},
		{"/bytes?n=100000", 200, 100000},
		{"/bytes?n=32761", 200, 32761},
		{"/bytes", 400, -1},
		{"/bytes?n=-1", 400, -1},
		{"/bytes?n=x", 400, -1},
		{"/bytes?n=99999999999999999", 400, -1},
		{"/nope", 404, -1},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tt.url, nil))
		if rec.Code != tt.status {
			t.Errorf("%s: status %d, want %d", tt.url, rec.Code, tt.status)
			continue
		}
		if tt.n < 0 {
			continue
		}
		body := rec.Body.Bytes()
		if len(body) != tt.n || rec.Header().Get("Content-Length") != strings.TrimPrefix(tt.url, "/bytes?n=") {
			t.Errorf("%s: %d bytes, Content-Length %q", tt.url, len(body), rec.Header().Get("Content-Length"))
		}
		for i, c := range body {
			if c != byte('a'+i%26) {
				t.Fatalf("%s: byte %d = %q", tt.url, i, c)
			}
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("HEAD", "/bytes?n=5", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != "5" {
		t.Errorf("HEAD: %d %q %q", rec.Code, rec.Body.String(), rec.Header().Get("Content-Length"))
	}
}
