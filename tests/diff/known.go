package diff

import (
	"fmt"
	"os"
	"strings"
)

// KnownRow is one row of the machine-read table of a KNOWN.md file: its
// cells, trimmed of spaces and backquotes, and its line number.
type KnownRow struct {
	Line  int
	Cells []string
}

// Reason is the row's cells from i on: the free text of its last column,
// which may itself hold "|".
func (r KnownRow) Reason(i int) string {
	if i >= len(r.Cells) {
		return ""
	}
	return strings.Join(r.Cells[i:], "|")
}

// KnownRows reads the rows of the table in a KNOWN.md file (the conformance
// suites' lists of expected differences): every line that starts with "|",
// so that a row cannot be lost by being placed outside the table, except
// the header (whose first cell is header) and the separator. A row with
// fewer than min cells is an error.
func KnownRows(path, header string, min int) ([]KnownRow, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rows []KnownRow
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for j := range cells {
			cells[j] = strings.Trim(strings.TrimSpace(cells[j]), "`")
		}
		if cells[0] == header || strings.HasPrefix(cells[0], "-") {
			continue
		}
		if len(cells) < min {
			return nil, fmt.Errorf("%s:%d: a row needs %d cells, has %d", path, i+1, min, len(cells))
		}
		rows = append(rows, KnownRow{Line: i + 1, Cells: cells})
	}
	return rows, nil
}
