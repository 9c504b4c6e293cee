package tcp

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// The goroutine stacks an idle connection keeps are measured in a fresh
// run of this test binary with the runtime's adaptive initial stack size
// off (GODEBUG=adaptivestackstart=0). With it on (the default), each GC
// sets the size new goroutines start with to the average stack in use it
// scanned, rounded up to a power of two: after the tests or benchmarks
// before it in the same process, the handlers started with 4 KiB, and
// make bench's BenchmarkIdleConnectionHeap read 4112 stack bytes per
// connection where a run of it alone read 2081. What the measurement is
// for is whether the handler's own path needs more than the 2 KiB a
// goroutine starts with.

// idleChildEnv names the environment variable that makes
// TestIdleConnectionStack the child: it holds the connection count.
const idleChildEnv = "TAPSTACK_TEST_IDLE_CHILD"

// idleResultPrefix starts the child's line of results on its stdout.
const idleResultPrefix = "idle-connections:"

// idleConnectionsFresh runs idleConnections(n) in a fresh process (see
// above) and returns its heap and stack bytes per connection pair.
func idleConnectionsFresh(tb testing.TB, n int) (heapB, stackB float64) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleConnectionStack$", "-test.count=1", "-test.bench=^$")
	godebug := "adaptivestackstart=0"
	if g := os.Getenv("GODEBUG"); g != "" {
		godebug = g + "," + godebug
	}
	cmd.Env = append(os.Environ(), idleChildEnv+"="+strconv.Itoa(n), "GODEBUG="+godebug)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("the fresh test process failed: %v\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), idleResultPrefix)
		if !ok {
			continue
		}
		if _, err := fmt.Sscanf(rest, " heapB=%g stackB=%g", &heapB, &stackB); err != nil {
			tb.Fatalf("the fresh test process's result %q: %v", line, err)
		}
		return heapB, stackB
	}
	tb.Fatalf("the fresh test process printed no %q line:\n%s", idleResultPrefix, out)
	return 0, 0
}

// idleChild runs the measurement when this process is the child of
// idleConnectionsFresh and reports whether it was.
func idleChild(t *testing.T) bool {
	v := os.Getenv(idleChildEnv)
	if v == "" {
		return false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a connection count", idleChildEnv, v)
	}
	heapB, stackB := idleConnections(t, n)
	fmt.Printf("%s heapB=%g stackB=%g\n", idleResultPrefix, heapB, stackB)
	return true
}
