package dns

import (
	"net/netip"
	"testing"
)

// FuzzParse: no input panics the parser or the answer walk, and whatever
// parses can be rebuilt and parsed again to the same names.
func FuzzParse(f *testing.F) {
	b := NewBuilder(HeaderFields{ID: 1, Response: true})
	b.Question(Question{"www.test.", TypeA, ClassINET})
	b.Answer(Resource{Name: "www.test.", Type: TypeCNAME, Class: ClassINET, Target: "web.test."})
	b.Answer(Resource{Name: "web.test.", Type: TypeA, Class: ClassINET, A: netip.MustParseAddr("10.0.0.1")})
	f.Add(b.Bytes())
	b6 := NewBuilder(HeaderFields{ID: 3, Response: true})
	b6.Question(Question{"web.test.", TypeAAAA, ClassINET})
	b6.Answer(Resource{Name: "web.test.", Type: TypeAAAA, Class: ClassINET, A: netip.MustParseAddr("fd00::1")})
	f.Add(b6.Bytes())
	q, _ := NewQuery(2, "web.test", TypeA)
	f.Add(q)
	f.Add([]byte{0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1})
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw)
		if err != nil {
			return
		}
		for _, q := range m.Questions {
			answerAddrs(m, q.Name, TypeA)
			answerAddrs(m, q.Name, TypeAAAA)
		}
		nb := NewBuilder(m.Header)
		for _, q := range m.Questions {
			if nb.Question(q) != nil {
				return // names with dots inside labels cannot be re-encoded
			}
		}
		for _, r := range m.Answers {
			if nb.Answer(r) != nil {
				return
			}
		}
		m2, err := Parse(nb.Bytes())
		if err != nil {
			t.Fatalf("rebuilt message does not parse: %v", err)
		}
		if len(m2.Questions) != len(m.Questions) || len(m2.Answers) != len(m.Answers) {
			t.Fatalf("rebuilt message differs: %+v vs %+v", m2, m)
		}
	})
}
