package distro

import (
	"fmt"
	"os"
	"regexp"
	"sync"

	"github.com/elfuse/elfuse/tests/diff"
)

// known is one KNOWN.md row.
type known struct {
	where  string // "elfuse" or "flaky"
	reason string
}

// parseKnown reads the table of KNOWN.md: rows `| case | where | reason |`.
// Every line that starts with "|" is a row, so a row cannot be lost by
// being placed outside the table.
func parseKnown(path string) (map[string]known, error) {
	rows, err := diff.KnownRows(path, "case", 3)
	if err != nil {
		return nil, err
	}
	out := map[string]known{}
	for _, r := range rows {
		name := r.Cells[0]
		if r.Cells[1] != "elfuse" && r.Cells[1] != "flaky" {
			return nil, fmt.Errorf("%s:%d: where is %q, want elfuse or flaky", path, r.Line, r.Cells[1])
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s:%d: %s listed twice", path, r.Line, name)
		}
		out[name] = known{where: r.Cells[1], reason: r.Reason(2)}
	}
	return out, nil
}

type syncCounter struct {
	sync.Mutex
	total, pass, known, fail, stale int
	failures                        []string
}

func (s *syncCounter) add(n *int, failed string) {
	s.Lock()
	defer s.Unlock()
	*n++
	s.total++
	if failed != "" {
		s.failures = append(s.failures, failed)
	}
}

func caseFilter() (func(string) bool, error) {
	pat := os.Getenv("DISTRO_CASES")
	if pat == "" {
		return func(string) bool { return true }, nil
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, fmt.Errorf("DISTRO_CASES: %v", err)
	}
	return re.MatchString, nil
}
