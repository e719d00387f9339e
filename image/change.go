package image

import (
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ApplyChanges applies Dockerfile instructions to an image config, the way
// `docker import --change` and `docker commit --change` do. It accepts
// CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME and
// WORKDIR. CMD and ENTRYPOINT take the exec form (a JSON array) or the shell
// form (run by /bin/sh -c); the other instructions expand $VAR, ${VAR},
// ${VAR:-default} and ${VAR:+alternative} from the config's environment and
// honour quotes and backslash escapes, as in a Dockerfile.
func ApplyChanges(cfg *v1.Config, changes []string) error {
	for _, ch := range changes {
		if err := applyChange(cfg, ch); err != nil {
			return fmt.Errorf("change %q: %w", ch, err)
		}
	}
	return nil
}

func applyChange(cfg *v1.Config, change string) error {
	// A backslash at the end of a line continues it, as in a Dockerfile.
	line := strings.TrimSpace(strings.ReplaceAll(change, "\\\n", ""))
	kw, rest, _ := strings.Cut(line, " ")
	if i := strings.IndexAny(kw, "\t\n"); i >= 0 {
		kw, rest = kw[:i], kw[i+1:]+" "+rest
	}
	rest = strings.TrimSpace(rest)
	env := envLookup(cfg.Env)
	switch strings.ToUpper(kw) {
	case "CMD":
		cfg.Cmd = commandForm(rest)
	case "ENTRYPOINT":
		cfg.Entrypoint = commandForm(rest)
	case "ENV":
		pairs, err := nameValues(rest, env)
		if err != nil {
			return err
		}
		for _, p := range pairs {
			cfg.Env = setEnv(cfg.Env, p[0], p[1])
		}
	case "LABEL":
		pairs, err := nameValues(rest, env)
		if err != nil {
			return err
		}
		for _, p := range pairs {
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			cfg.Labels[p[0]] = p[1]
		}
	case "EXPOSE":
		words, err := lex(rest, env, true)
		if err != nil {
			return err
		}
		if len(words) == 0 {
			return fmt.Errorf("EXPOSE needs at least one port")
		}
		for _, w := range words {
			ports, err := parsePorts(w)
			if err != nil {
				return err
			}
			for _, p := range ports {
				if cfg.ExposedPorts == nil {
					cfg.ExposedPorts = map[string]struct{}{}
				}
				cfg.ExposedPorts[p] = struct{}{}
			}
		}
	case "VOLUME":
		var vols []string
		if err := json.Unmarshal([]byte(rest), &vols); err != nil || !strings.HasPrefix(rest, "[") {
			if vols, err = lex(rest, env, true); err != nil {
				return err
			}
		}
		if len(vols) == 0 {
			return fmt.Errorf("VOLUME needs at least one path")
		}
		for _, v := range vols {
			if strings.TrimSpace(v) == "" {
				return fmt.Errorf("VOLUME with an empty path")
			}
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			cfg.Volumes[v] = struct{}{}
		}
	case "USER", "WORKDIR", "STOPSIGNAL":
		words, err := lex(rest, env, false)
		if err != nil {
			return err
		}
		if len(words) != 1 || words[0] == "" {
			return fmt.Errorf("%s needs one argument", strings.ToUpper(kw))
		}
		v := words[0]
		switch strings.ToUpper(kw) {
		case "USER":
			cfg.User = v
		case "STOPSIGNAL":
			cfg.StopSignal = v
		default:
			if !path.IsAbs(v) {
				v = path.Join("/", cfg.WorkingDir, v)
			}
			cfg.WorkingDir = path.Clean(v)
		}
	case "ONBUILD":
		if rest == "" {
			return fmt.Errorf("ONBUILD needs an instruction")
		}
		cfg.OnBuild = append(cfg.OnBuild, rest)
	case "":
		return fmt.Errorf("empty instruction")
	default:
		return fmt.Errorf("unsupported instruction %s (want CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR)", strings.ToUpper(kw))
	}
	return nil
}

// commandForm parses the argument of CMD or ENTRYPOINT: a JSON array of
// strings (exec form), or anything else run by /bin/sh -c (shell form).
func commandForm(s string) []string {
	if strings.HasPrefix(s, "[") {
		var argv []string
		if err := json.Unmarshal([]byte(s), &argv); err == nil {
			if argv == nil {
				argv = []string{}
			}
			return argv
		}
	}
	return []string{"/bin/sh", "-c", s}
}

// nameValues parses the arguments of ENV and LABEL: key=value pairs, or one
// key followed by a value that is the rest of the line (the legacy form).
// Variables expand from the environment before the instruction.
func nameValues(s string, env func(string) (string, bool)) ([][2]string, error) {
	if s == "" {
		return nil, fmt.Errorf("missing name=value")
	}
	first, rest, _ := strings.Cut(s, " ")
	if i := strings.IndexByte(first, '\t'); i >= 0 {
		first, rest = first[:i], first[i+1:]+" "+rest
	}
	if !strings.Contains(first, "=") {
		// Legacy form: NAME value with spaces.
		if strings.TrimSpace(rest) == "" {
			return nil, fmt.Errorf("%s has no value (want NAME value or NAME=value)", first)
		}
		k, err := lex(first, env, false)
		if err != nil {
			return nil, err
		}
		v, err := lex(strings.TrimSpace(rest), env, false)
		if err != nil {
			return nil, err
		}
		if len(k) != 1 || k[0] == "" || len(v) != 1 {
			return nil, fmt.Errorf("want NAME value or NAME=value")
		}
		return [][2]string{{k[0], v[0]}}, nil
	}
	words, err := lex(s, env, true)
	if err != nil {
		return nil, err
	}
	var out [][2]string
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not NAME=value", w)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

func envLookup(env []string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		for i := len(env) - 1; i >= 0; i-- {
			if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
				return v, true
			}
		}
		return "", false
	}
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if name, _, _ := strings.Cut(e, "="); name == k {
			out := append([]string(nil), env...)
			out[i] = k + "=" + v
			return out
		}
	}
	return append(env, k+"="+v)
}

// lex splits s into words (when split is set; else it returns s as one word
// with its spaces kept), removing quotes and backslash escapes and expanding
// variables outside single quotes.
func lex(s string, env func(string) (string, bool), split bool) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case split && (c == ' ' || c == '\t' || c == '\n'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			i++
		case c == '\\':
			inWord = true
			if i+1 < len(s) {
				cur.WriteByte(s[i+1])
				i += 2
			} else {
				cur.WriteByte(c)
				i++
			}
		case c == '\'':
			inWord = true
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated single quote")
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 2
		case c == '"':
			inWord = true
			i++
			closed := false
			for i < len(s) && !closed {
				switch d := s[i]; {
				case d == '"':
					closed = true
					i++
				case d == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$", s[i+1]) >= 0:
					cur.WriteByte(s[i+1])
					i += 2
				case d == '$':
					n, err := expand(s[i:], env, &cur)
					if err != nil {
						return nil, err
					}
					i += n
				default:
					cur.WriteByte(d)
					i++
				}
			}
			if !closed {
				return nil, fmt.Errorf("unterminated double quote")
			}
		case c == '$':
			inWord = true
			n, err := expand(s[i:], env, &cur)
			if err != nil {
				return nil, err
			}
			i += n
		default:
			inWord = true
			cur.WriteByte(c)
			i++
		}
	}
	if inWord || !split {
		words = append(words, cur.String())
	}
	return words, nil
}

// expand writes the value of the variable reference at the start of s
// (which begins with '$') to out and returns how many bytes it used.
func expand(s string, env func(string) (string, bool), out *strings.Builder) (int, error) {
	isName := func(c byte, first bool) bool {
		return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
	}
	if len(s) < 2 {
		out.WriteByte('$')
		return 1, nil
	}
	if s[1] != '{' {
		n := 1
		for n < len(s) && isName(s[n], n == 1) {
			n++
		}
		if n == 1 {
			out.WriteByte('$')
			return 1, nil
		}
		v, _ := env(s[1:n])
		out.WriteString(v)
		return n, nil
	}
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return 0, fmt.Errorf("missing } in %q", s)
	}
	body := s[2:end]
	n := 0
	for n < len(body) && isName(body[n], n == 0) {
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("bad substitution ${%s}", body)
	}
	v, set := env(body[:n])
	switch op := body[n:]; {
	case op == "":
		out.WriteString(v)
	case strings.HasPrefix(op, ":-"):
		if !set || v == "" {
			v = op[2:]
		}
		out.WriteString(v)
	case strings.HasPrefix(op, ":+"):
		if set && v != "" {
			out.WriteString(op[2:])
		}
	default:
		return 0, fmt.Errorf("unsupported substitution ${%s} (want ${NAME}, ${NAME:-default} or ${NAME:+alternative})", body)
	}
	return end + 1, nil
}

// parsePorts parses an EXPOSE argument: PORT[-PORT][/PROTO], protocol tcp
// by default.
func parsePorts(s string) ([]string, error) {
	ports, proto, _ := strings.Cut(s, "/")
	if proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, fmt.Errorf("EXPOSE %s: unknown protocol %q", s, proto)
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	if !isRange {
		hi = lo
	}
	a, err1 := strconv.ParseUint(lo, 10, 16)
	b, err2 := strconv.ParseUint(hi, 10, 16)
	if err1 != nil || err2 != nil || a == 0 || b < a {
		return nil, fmt.Errorf("EXPOSE %s: bad port", s)
	}
	var out []string
	for p := a; p <= b; p++ {
		out = append(out, fmt.Sprintf("%d/%s", p, proto))
	}
	return out, nil
}
