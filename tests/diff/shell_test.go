package diff

import (
	"path/filepath"
	"testing"
)

// shellCase is one busybox sh script: files for the scratch dir, the script
// (run as `busybox sh -c SCRIPT` in the scratch dir), optional stdin and the
// exit status the native run must have. Scripts never print $$ or other
// pids: under elfuse the shell is pid 1.
type shellCase struct {
	name   string
	files  map[string]string
	script string
	stdin  string
	exit   int
}

var shellCases = []shellCase{
	{name: "pipeline", files: map[string]string{"w.txt": words}, script: `
cat w.txt | sort | uniq -c | sort -rn | head -n 3
echo one two three | tr ' ' '\n' | wc -l
seq 1 1000 | grep 7 | wc -l
printf 'b\na\nc\n' | sort | tr a-z A-Z | sed 's/^/> /'
`},
	{name: "pipe-status", script: `
false | true; echo "false|true: $?"
true | false; echo "true|false: $?"
(exit 3) | (exit 5); echo "3|5: $?"
! true; echo "!true: $?"
! false | false; echo "!(false|false): $?"
sh -c 'exit 7' | cat; echo "exit7|cat: $?"
cat /nonexistent 2>/dev/null | wc -l; echo "missing|wc: $?"
`},
	{name: "command-subst", script: `
x=$(echo hello; echo world)
echo "[$x]"
n=$(seq 1 10 | wc -l)
echo "n=$n"
nested=$(echo outer $(echo inner $(echo deepest)))
echo "$nested"
y=` + "`echo backticks`" + `
echo "$y"
z=$(exit 4); echo "status of subst: $?"
echo "len ${#x}"
`},
	{name: "subshell", script: `
a=1
(a=2; echo "in subshell a=$a"; cd /; pwd)
echo "after subshell a=$a"
pwd | sed "s|$DIFF_TMP|TMP|"
(exit 9); echo "subshell status $?"
{ echo grouped; echo in braces; } | wc -l
(echo to-stderr >&2) 2>&1
(umask 077; umask); umask
(trap 'echo sub-exit-trap' EXIT; echo in sub)
echo done
`},
	{name: "functions", script: `
greet() { echo "hello $1 ($#)"; return 3; }
greet world extra; echo "ret $?"
fact() { if [ $1 -le 1 ]; then echo 1; else echo $(( $1 * $(fact $(($1 - 1))) )); fi; }
echo "fact 10 = $(fact 10)"
counter=0
inc() { counter=$((counter + 1)); }
inc; inc; inc; echo "counter $counter"
lv() { local v=inner; echo "in $v"; }
v=outer; lv; echo "out $v"
f() { echo "args: $*"; shift; echo "after shift: $@"; }
f a b c
`},
	{name: "trap-usr1", script: `
trap 'echo got USR1' USR1
kill -USR1 $$
echo after first
trap 'echo got USR2; n=$((n+1))' USR2
n=0
kill -USR2 $$; kill -USR2 $$
echo "n=$n"
trap - USR1
trap '' TERM
kill -TERM $$
echo survived ignored TERM
trap 'echo INT trapped' INT
kill -INT $$
echo end
`},
	{name: "trap-exit", script: `
trap 'echo exit trap ran, status $?' EXIT
echo body
(trap 'echo inner exit trap' EXIT; exit 2)
echo "inner status $?"
sh -c 'trap "echo child trap" EXIT; exit 6'
echo "child status $?"
exit 5
`, exit: 5},
	{name: "background", script: `
sleep 0.2 & p1=$!
(sleep 0.1; exit 3) & p2=$!
wait $p2; echo "p2 status $?"
wait $p1; echo "p1 status $?"
sleep 10 & p3=$!
kill $p3
# Whether ash reaps a killed job before "wait" (and so prints no
# "Terminated") is a race natively too: give the child time to end.
sleep 0.2
wait $p3; echo "killed status $?"
sleep 10 & p4=$!
kill -KILL $p4; sleep 0.2; wait $p4; echo "kill -9 status $?"
for i in 1 2 3; do (sleep 0.0$i; echo "bg $i" > bg$i.txt) & done
wait
cat bg1.txt bg2.txt bg3.txt
echo "jobs done"
`},
	{name: "heredoc", script: `
cat <<END
plain $HOME
  indented line
$(echo substituted)
END
cat <<'END'
quoted $HOME $(not run)
END
cat <<-END
	tabs stripped
	END
wc -l <<END
1
2
3
END
while read a b; do echo "a=$a b=$b"; done <<END
x 1
y 2
END
`},
	{name: "xargs", files: map[string]string{"list.txt": "a\nb\nc\nd\ne\n"}, script: `
cat list.txt | xargs echo
cat list.txt | xargs -n 2 echo pair:
seq 1 5 | xargs -I{} sh -c 'echo item {}'
printf 'one\0two\0' | xargs -0 -n1 echo z
echo "x y z" | xargs -n 1 | sort -r
seq 1 3 | xargs sh -c 'exit 0'; echo "xargs status $?"
echo q | xargs sh -c 'exit 3'; echo "xargs failing status $?"
`},
	{name: "find-xargs", files: map[string]string{"t/": "", "t/a.c": "int a;\n", "t/b.txt": "b\n", "t/s/": "", "t/s/c.c": "int c;\nint d;\n", "t/s/d.h": ""}, script: `
find t -name '*.c' | sort | xargs cat
find t -type f | sort | xargs wc -l
find t -name '*.c' -print0 | xargs -0 grep -l int | sort
find t -type f -exec echo found {} \; | sort
find t -type f | xargs -n 1 basename | sort
`},
	{name: "set-e", script: `
set -e
echo start
true
if false; then echo no; fi
false || echo "or-list tolerated"
x=$(false || echo fallback); echo "$x"
( set -e; echo "sub start"; false; echo "sub not reached" ) || echo "subshell failed: $?"
echo before failure
false
echo not reached
`, exit: 1},
	{name: "loops", script: `
for i in 1 2 3; do echo "for $i"; done
for w in $(echo a b c); do printf '%s-' "$w"; done; echo
i=0; while [ $i -lt 5 ]; do i=$((i+1)); [ $i -eq 2 ] && continue; [ $i -eq 4 ] && break; echo "while $i"; done
n=3; until [ $n -eq 0 ]; do echo "until $n"; n=$((n-1)); done
for f in x.c y.h z.txt Makefile; do
  case $f in
    *.c) echo "$f: C source";;
    *.h) echo "$f: header";;
    Make*) echo "$f: makefile";;
    *) echo "$f: other";;
  esac
done
case "hello" in h*o) echo glob-match;; esac
for i in 1 2; do for j in a b; do echo "$i$j"; done; done
`},
	{name: "read-pipe", stdin: "line one\nline two\n  spaced  \nlast", script: `
while IFS= read -r l; do echo "[$l]"; done
echo "last partial line: [$l]"
printf 'a:b:c\n' | { IFS=: read x y z; echo "$z $y $x"; }
echo "piped" | read v; echo "v after pipe: [$v]"
read first rest <<END
alpha beta gamma
END
echo "$first | $rest"
seq 1 5 | while read n; do s=$((${s:-0} + n)); echo "running $s"; done
`},
	{name: "redirections", script: `
echo out > f.txt
echo more >> f.txt
cat f.txt
echo err 2> e.txt >&2
cat e.txt
ls /nonexistent 2>/dev/null || echo "ls failed quietly"
exec 3> fd3.txt
echo via fd3 >&3
exec 3>&-
cat fd3.txt
{ echo a; echo b >&2; } 2>&1 | sort
cat < f.txt | wc -l
echo "$(cat f.txt | head -n 1)"
`},
	{name: "exit-codes", files: map[string]string{"noexec.sh": "echo hi\n"}, script: `
sh -c 'exit 0'; echo $?
sh -c 'exit 1'; echo $?
sh -c 'exit 255'; echo $?
sh -c 'kill -TERM $$'; echo "killed by TERM: $?"
sh -c 'kill -KILL $$'; echo "killed by KILL: $?"
/nonexistent-cmd 2>/dev/null; echo "not found: $?"
./noexec.sh 2>/dev/null; echo "not executable: $?"
true && echo and-ok
false && echo no || echo or-ok
`},
	{name: "scripts-and-shebang", files: map[string]string{
		"s.sh":   "#!/bin/busybox sh\necho \"script args: $# $1 $2\"\nexit 3\n",
		"lib.sh": "libvar=from-lib\nlibfn() { echo \"libfn $1\"; }\n",
	}, script: `
chmod +x s.sh
./s.sh one two; echo "status $?"
sh s.sh x; echo "via sh: $?"
. ./lib.sh
echo "$libvar"; libfn arg
exec sh -c 'echo exec replaced the shell; exit 4'
echo not reached
`, exit: 4},
	{name: "arith-and-vars", script: `
echo $((7 * 6)) $((17 % 5)) $((2 ** 10)) $(( (3 + 4) * 2 ))
x=abcdef; echo ${x#ab} ${x%ef} ${#x} ${x:-unset} ${unset_var:-default}
: ${assigned:=now}; echo $assigned
set -- p q r; echo "$# $2 $@"
IFS=,; set -- $(echo 1,2,3); echo "$#"; IFS=' '
export EXP=exported; sh -c 'echo "child sees $EXP"'
NOEXP=hidden; sh -c 'echo "child sees [${NOEXP}]"'
VAR=temp sh -c 'echo "prefix $VAR"'; echo "after [${VAR}]"
`},
	{name: "wait-many", script: `
for i in 1 2 3 4 5 6 7 8; do (exit $i) & done
wait
echo "all waited"
(sleep 0.05; exit 7) & p=$!
wait $p; echo "status $?"
wait $p 2>/dev/null; echo "second wait: $?"
`},
}

// TestDiffBusyboxShell runs busybox sh scripts natively and under elfuse.
func TestDiffBusyboxShell(t *testing.T) {
	bin := target(t)
	for _, c := range shellCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			step := Step{Prog: busybox, Args: []string{"sh", "-c", c.script}, WantExit: c.exit}
			if c.stdin != "" {
				step.Stdin = []byte(c.stdin)
			}
			RunPair(t, bin, Case{
				Scratch: filepath.Join(t.TempDir(), "scratch"),
				Setup:   func(dir string) error { return writeTree(dir, c.files) },
				Steps:   []Step{step},
			})
		})
	}
}

// TestShellCaseCount keeps the process suites at the size they promise.
func TestShellCaseCount(t *testing.T) {
	if len(shellCases) < 15 {
		t.Errorf("only %d shell cases, want at least 15", len(shellCases))
	}
	procs, _ := filepath.Glob(filepath.Join("c", "proc_*.c"))
	if len(procs) < 16 {
		t.Errorf("only %d proc_*.c programs, want at least 16", len(procs))
	}
}
