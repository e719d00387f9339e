package distro

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
)

// shellCase is one of tests/diff's busybox sh scripts (shellCases in
// tests/diff/shell_test.go), read from that file's source so that the two
// suites stay in step without exporting anything from package diff.
type shellCase struct {
	name, script, stdin string
	files               map[string]string
	exit                int
}

// loadShellCases parses tests/diff/*.go and evaluates the shellCases
// literal: strings, concatenations, and the package's string constants.
func loadShellCases(repo string) ([]shellCase, error) {
	dir := filepath.Join(repo, "tests", "diff")
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	consts := map[string]ast.Expr{}
	var lit *ast.CompositeLit
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			return nil, err
		}
		for _, d := range af.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || (gd.Tok != token.CONST && gd.Tok != token.VAR) {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					if gd.Tok == token.CONST {
						consts[n.Name] = vs.Values[i]
					} else if n.Name == "shellCases" {
						lit, _ = vs.Values[i].(*ast.CompositeLit)
					}
				}
			}
		}
	}
	if lit == nil {
		return nil, fmt.Errorf("no shellCases literal in %s", dir)
	}
	var str func(e ast.Expr) (string, error)
	str = func(e ast.Expr) (string, error) {
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind == token.STRING {
				return strconv.Unquote(e.Value)
			}
		case *ast.BinaryExpr:
			if e.Op == token.ADD {
				a, err := str(e.X)
				if err != nil {
					return "", err
				}
				b, err := str(e.Y)
				return a + b, err
			}
		case *ast.ParenExpr:
			return str(e.X)
		case *ast.Ident:
			if v, ok := consts[e.Name]; ok {
				return str(v)
			}
		}
		return "", fmt.Errorf("%s: cannot evaluate this expression", fset.Position(e.Pos()))
	}
	var out []shellCase
	for _, el := range lit.Elts {
		cl, ok := el.(*ast.CompositeLit)
		if !ok {
			return nil, fmt.Errorf("%s: a shell case that is not a literal", fset.Position(el.Pos()))
		}
		var sc shellCase
		for _, f := range cl.Elts {
			kv, ok := f.(*ast.KeyValueExpr)
			if !ok {
				return nil, fmt.Errorf("%s: unkeyed field", fset.Position(f.Pos()))
			}
			key := kv.Key.(*ast.Ident).Name
			switch key {
			case "name", "script", "stdin":
				s, err := str(kv.Value)
				if err != nil {
					return nil, err
				}
				switch key {
				case "name":
					sc.name = s
				case "script":
					sc.script = s
				case "stdin":
					sc.stdin = s
				}
			case "exit":
				bl, ok := kv.Value.(*ast.BasicLit)
				if !ok || bl.Kind != token.INT {
					return nil, fmt.Errorf("%s: exit is not an integer literal", fset.Position(kv.Pos()))
				}
				n, err := strconv.Atoi(bl.Value)
				if err != nil {
					return nil, err
				}
				sc.exit = n
			case "files":
				m, ok := kv.Value.(*ast.CompositeLit)
				if !ok {
					return nil, fmt.Errorf("%s: files is not a map literal", fset.Position(kv.Pos()))
				}
				sc.files = map[string]string{}
				for _, e := range m.Elts {
					fkv := e.(*ast.KeyValueExpr)
					k, err := str(fkv.Key)
					if err != nil {
						return nil, err
					}
					v, err := str(fkv.Value)
					if err != nil {
						return nil, err
					}
					sc.files[k] = v
				}
			default:
				return nil, fmt.Errorf("%s: unknown field %s", fset.Position(kv.Pos()), key)
			}
		}
		out = append(out, sc)
	}
	return out, nil
}

// bashCases turns the busybox sh scripts into bash ones: the same script
// run by /bin/bash -c, with busybox named in `#!` lines replaced by bash.
func bashCases(repo string) ([]tcase, error) {
	scs, err := loadShellCases(repo)
	if err != nil {
		return nil, fmt.Errorf("reading the busybox shell cases: %w", err)
	}
	var out []tcase
	for _, sc := range scs {
		files := map[string]string{}
		for k, v := range sc.files {
			files[k] = strings.ReplaceAll(v, "#!/bin/busybox sh", "#!/bin/bash")
		}
		out = append(out, tcase{
			name:  "bash-" + sc.name,
			files: files,
			argv:  []string{"/bin/bash", "-c", strings.ReplaceAll(sc.script, "/bin/busybox sh", "/bin/bash")},
			stdin: sc.stdin,
			exit:  sc.exit,
		})
	}
	return out, nil
}
