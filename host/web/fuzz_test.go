package web

import (
	"net/http/httptest"
	"testing"
)

// FuzzWantsHTML: any Accept header is answered without a panic, and one
// that does not mention html is never taken for a browser.
func FuzzWantsHTML(f *testing.F) {
	for _, s := range []string{"text/html", "*/*", "text/html;q=0", ";,;", "application/xhtml+xml; charset=\"", "text/plain, text/html"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept", accept)
		got := WantsHTML(r)
		if got && !containsFold(accept, "html") {
			t.Errorf("Accept %q taken for HTML", accept)
		}
	})
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		ok := true
		for j := 0; j < len(sub); j++ {
			c := s[i+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
