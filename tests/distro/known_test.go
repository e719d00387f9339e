package distro

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
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
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]known{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		if len(cells) < 3 {
			return nil, fmt.Errorf("%s:%d: want | case | where | reason |", path, i+1)
		}
		if cells[0] == "case" || strings.HasPrefix(cells[0], "---") {
			continue
		}
		name := strings.Trim(cells[0], "`")
		if cells[1] != "elfuse" && cells[1] != "flaky" {
			return nil, fmt.Errorf("%s:%d: where is %q, want elfuse or flaky", path, i+1, cells[1])
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s:%d: %s listed twice", path, i+1, name)
		}
		out[name] = known{where: cells[1], reason: strings.Join(cells[2:], "|")}
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
