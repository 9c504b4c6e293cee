package trace_test

import (
	"fmt"

	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/trace"
)

// ExampleAttach traces a stack's packets passing a tcpdump-like filter;
// sess.Run would print them as paragraphs until its context ends.
func ExampleAttach() {
	s := stack.New(stack.Options{})
	f, err := trace.ParseFilter("host 10.0.0.1 and tcp port 80")
	if err != nil {
		panic(err)
	}
	sess, detach := trace.Attach(s, f)
	defer detach()
	fmt.Println(s.Tracer() != nil, sess.Dropped(), f)
	// Output: true 0 host 10.0.0.1 and tcp port 80
}
