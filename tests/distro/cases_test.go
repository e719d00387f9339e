package distro

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// sh is a case running a bash script.
func sh(name, script string, files map[string]string) tcase {
	return tcase{name: name, argv: []string{"/bin/bash", "-c", script}, files: files}
}

// py is a case running a python3 program.
func py(name, prog string) tcase {
	return tcase{name: name, argv: []string{"/usr/bin/python3", "prog.py"}, files: map[string]string{"prog.py": prog}}
}

func withExit(c tcase, exit int) tcase { c.exit = exit; return c }

func withPrep(c tcase, prep func(dir string) error) tcase { c.prep = prep; return c }

var (
	certOnce sync.Once
	certDir  string
	certErr  error
)

// tlsCert puts a self-signed certificate for localhost (cert.pem, key.pem),
// made once per run with the host's openssl, into dir.
func tlsCert(dir string) error {
	certOnce.Do(func() {
		certDir, certErr = os.MkdirTemp("", "elfuse-distro-cert")
		if certErr != nil {
			return
		}
		out, err := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
			"-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
			"-keyout", filepath.Join(certDir, "key.pem"), "-out", filepath.Join(certDir, "cert.pem")).CombinedOutput()
		if err != nil {
			certErr = fmt.Errorf("openssl req: %v: %s", err, out)
		}
	})
	if certErr != nil {
		return certErr
	}
	for _, f := range []string{"cert.pem", "key.pem"} {
		if err := copyFile(filepath.Join(certDir, f), filepath.Join(dir, f), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func withTimeout(c tcase, d time.Duration) tcase { c.timeout = d; return c }

func allCases(t *testing.T, repo string) ([]tcase, error) {
	bash, err := bashCases(repo)
	if err != nil {
		return nil, err
	}
	cases := append([]tcase{}, bash...)
	cases = append(cases, coreutilsCases...)
	cases = append(cases, textCases...)
	cases = append(cases, pythonCases...)
	cases = append(cases, stdlibCases()...)
	cases = append(cases, toolCases...)
	cases = append(cases, muslCases(t)...)
	return cases, nil
}

const sampleText = "pear\napple\nfig\nbanana\napple\ncherry\nkiwi\n10\n9\n100\n"

var coreutilsCases = []tcase{
	sh("coreutils-ls", `
mkdir -p d/sub d/empty
printf 'abc\n' > d/f1; printf 'xy\n' > d/sub/f2; : > d/zero; ln -s f1 d/link
chmod 600 d/f1; chmod 755 d/sub
touch -h -d '2020-01-02 03:04:05' d/f1 d/zero d/link d/sub/f2 d/sub d/empty d
ls d
ls -1 -a d
ls -l --time-style=+%Y-%m-%dT%H:%M:%S d | grep -v '^total' | awk '{print $1, $3, $4, $6, $7, $8, $9}'
ls -R d
ls -l d/f1 d/link d/zero | awk '{print $1, $5, $NF}'
ls -d d/*/ ; ls -F d; ls -S -1 d; ls -t -1 d | head -n 3
ls /nonexistent; echo "status $?"
`, nil),
	sh("coreutils-sort", `
sort words.txt
sort -r words.txt
sort -n -r words.txt | head -n 4
sort -u words.txt | wc -l
printf '3 c\n1 a\n2 b\n1 z\n' | sort -k2,2r
printf '3 c\n1 a\n2 b\n1 z\n' | sort -s -k1,1n
printf 'b\na\n' | sort -c; echo "check $?"
seq 1 20000 | sort -R --random-source=words.txt | sort -n | sha256sum
seq 1 50000 | sort -r -n | head -n 2
sort -t: -k3,3n table.txt | cut -d: -f1
sort words.txt words.txt | uniq -c
`, map[string]string{"words.txt": sampleText, "table.txt": "root:x:0:0\nbin:x:2:2\nnobody:x:65534:65534\nsys:x:3:3\n"}),
	sh("coreutils-find-xargs", `
set -e
mkdir -p t/s/deep; printf 'int a;\n' > t/a.c; printf 'b\n' > t/b.txt; printf 'int c;\nint d;\n' > t/s/c.c; : > t/s/d.h; printf x > t/s/deep/e.c
find t | sort
find t -name '*.c' | sort | xargs cat
find t -type f -print0 | sort -z | xargs -0 wc -c
find t -type d | sort
find t -name '*.c' -newer t/b.txt -o -name '*.h' | sort >/dev/null
find t -maxdepth 1 -type f | sort
find t -empty | sort
find t -type f -exec grep -l int {} + | sort
find t -size -1k -type f | sort
seq 1 10 | xargs -n 3 echo
seq 1 10 | xargs -P 2 -n 1 sh -c 'echo $0' | sort -n | tr '\n' ' '; echo
printf 'a b\0c d\0' | xargs -0 -I{} echo '[{}]'
echo one two | xargs -t echo 2>&1
`, nil),
	sh("coreutils-tar-gzip", `
mkdir -p src/sub; printf 'hello\n' > src/a; seq 1 5000 > src/sub/b; ln -s a src/l
touch -h -d @1600000000 src/a src/sub/b src/l src/sub src
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1600000000 -cf a.tar src
sha256sum a.tar | cut -c1-64
tar -tvf a.tar
gzip -9 -n -c a.tar > a.tar.gz
sha256sum a.tar.gz | cut -c1-64
gzip -t a.tar.gz && echo gzip-test-ok
gzip -l a.tar.gz | awk '{print $1, $2}'
mkdir out; tar -xzf a.tar.gz -C out
diff -r src out/src && echo extracted-same
cat out/src/l; stat -c '%N %Y' out/src/l out/src/a
tar -czf b.tgz -C src . && tar -tzf b.tgz | sort
gzip -dc a.tar.gz | cmp - a.tar && echo roundtrip
gzip -d < /dev/null; echo "empty gunzip $?"
printf 'not gzip' | gzip -dc 2>&1; echo "bad $?"
`, nil),
	sh("coreutils-sha256sum", `
printf 'abc' > abc; seq 1 100000 > big; : > empty
sha256sum abc big empty
sha256sum abc big empty > sums; sha256sum -c sums
echo bad > abc; sha256sum -c sums; echo "status $?"
md5sum big; sha1sum big; sha512sum empty; b2sum empty; cksum big
printf 'x' | sha256sum
`, nil),
	sh("coreutils-stat", `
set -e
printf 'twelve bytes' > f; chmod 640 f; mkdir d; chmod 750 d; ln -s f l; mkfifo p
touch -h -d @1600000000 f d l
stat -c '%n|%s|%a|%A|%F|%U|%G|%h|%Y|%X' f d
stat -c '%n|%F|%N|%a' l p
stat -L -c '%n|%F|%s' l
stat -c '%s' /etc/debian_version
test -f f && test -d d && test -L l && test -p p && test -r f && test -x d && echo tests-ok
stat -f -c '%t' . >/dev/null && echo statfs-ok
stat nonexistent 2>&1 || echo "status $?"
`, nil),
	sh("coreutils-date", `
date -u -d @1600000000
date -u -d @1600000000 '+%F %T %Z %s %j %a %b %U'
date -d '2021-03-04 05:06:07 UTC' +%s
date -d '2020-02-28 + 2 days' +%F
date -u -d @0 -R
date -d @1600000000 --iso-8601=seconds
TZ=Europe/Berlin date -d @1600000000 '+%F %T %Z'
TZ=America/New_York date -d @1700000000 '+%F %T %Z %z'
now=$(date +%s); [ "$now" -gt 1700000000 ] && echo now-plausible
date -d 'garbage' 2>&1; echo "status $?"
touch -d @1234567890 f; date -r f +%s
`, nil),
	sh("coreutils-id-env", `
id; id -u; id -g; id -un; id -gn; id -G
whoami; groups
env | sort
env -i A=1 B=2 /usr/bin/env
env -u DIFF_VAR /usr/bin/env | grep -c DIFF_ || true
env FOO=bar sh -c 'echo $FOO'
printenv HOME TZ LANG
logname 2>/dev/null; echo "logname $?"
uname -s -m -o
pwd; echo "$PWD"; cd / && pwd -P
`, nil),
	sh("coreutils-timeout", `
timeout 0.3 sleep 5; echo "timeout: $?"
timeout -s KILL 0.3 sleep 5; echo "timeout KILL: $?"
timeout 5 true; echo "fast: $?"
timeout 5 sh -c 'exit 7'; echo "passthrough: $?"
timeout --preserve-status 0.3 sleep 5; echo "preserve: $?"
timeout -k 0.2 0.2 sh -c 'trap "" TERM; sleep 3'; echo "kill after: $?"
timeout 1 nonexistent-command; echo "missing: $?"
sleep 0.1 & wait $!; echo "sleep $?"
`, nil),
	sh("coreutils-tac-misc", `
seq 1 5 | tac
printf 'a\nb\nc' | tac; echo
printf 'x--y--z--' | tac -s -- --; echo
seq 1 100000 | tac | head -n 2
printf 'one\ntwo\nthree\n' > f; tac f f | tail -n 2
seq 1 10 | paste -sd+ | bc 2>/dev/null || seq 1 10 | paste -sd+
seq 1 12 | split -l 5 - part-; ls part-*; cat part-ab
printf 'a,b,c\n1,2,3\n' | cut -d, -f2; echo hello | rev; printf 'x\ny\n' | nl
echo 'hello world' | tr a-z A-Z; echo aabbcc | tr -s abc; echo abc | od -An -c
seq 1 1000 | wc; printf 'abc' | base64; echo YWJj | base64 -d; echo
basename /a/b/c.txt .txt; dirname /a/b/c.txt; realpath -m /x/../y; readlink -f .
expr 6 \* 7; factor 360; numfmt --to=iec 1048576; printf '%05.1f|%x|%s\n' 3.14159 255 str
yes | head -n 3; seq -s, 1 5; shuf -i 1-5 --random-source=f | sort -n | tr '\n' ' '; echo
truncate -s 10 g; wc -c < g; dd if=/dev/zero of=z bs=1k count=4 status=none; wc -c < z
mktemp -d | grep -c "^$DISTRO_TMP/tmp\."
`, nil),
	sh("coreutils-nproc", `
nproc
getconf PAGESIZE; getconf ARG_MAX
`, nil),
}

var textCases = []tcase{
	sh("gawk", `
gawk 'BEGIN { FS=":" } { n[$1]++; total += $3 } END { for (k in n) print k, n[k] | "sort"; close("sort"); print "total", total }' t.txt
gawk '{ $2 = toupper($2); print NR": "$0 }' OFS=- t.txt
gawk 'BEGIN { printf "%d %5.2f %s %c %x\n", 42, 3.14159, "str", 65, 255; print length("hello"), substr("abcdef", 2, 3), index("abc", "c") }'
gawk 'BEGIN { n = split("a,b,c,d", arr, ","); print n, arr[1], arr[4]; s = "foo bar foo"; print gsub(/foo/, "baz", s), s }'
gawk 'BEGIN { a["z"]=1; a["a"]=3; a["m"]=2; n = asorti(a, k); for (i=1;i<=n;i++) printf "%s ", k[i]; print ""; print strftime("%Y-%m-%d %H:%M:%S", 1600000000, 1) }'
gawk 'BEGIN { print 2^53, int(-3.7), sqrt(2), exp(1), log(10), sin(1), atan2(0,-1) }'
gawk 'BEGIN { srand(42); x = rand(); print (x >= 0 && x < 1) ? "rand ok" : "rand bad" }'
gawk 'BEGIN { while (("seq 1 5" | getline l) > 0) s += l; print "sum", s; "date -u -d @0 +%Y" | getline y; print y }'
gawk 'BEGIN { print "to-file" > "out.txt"; close("out.txt"); getline l < "out.txt"; print "read back:", l }'
gawk 'BEGIN { print match("foobar", /o+b/), RSTART, RLENGTH; print gensub(/(a)(b)/, "\\2\\1", "g", "abab") }'
gawk '/apple/ { c++ } END { print c+0 }' w.txt
seq 1 100000 | gawk '{ s += $1 } END { print s }'
gawk 'BEGIN { exit 3 }'; echo "exit $?"
gawk 'BEGIN { print ENVIRON["DIFF_VAR"]; print PROCINFO["version"] != "" }'
printf 'a b\nc d\n' | gawk -v RS= '{ print NF }'
gawk --version | head -n 1
`, map[string]string{"t.txt": "x:one:1\ny:two:2\nx:three:3\n", "w.txt": sampleText}),
	sh("sed", `
sed -n '2,4p' w.txt
sed 's/a/A/g; s/^/> /' w.txt | head -n 3
sed -E 's/([a-z]+)([0-9]*)/\2\1/' w.txt | tail -n 3
sed '/apple/d' w.txt | wc -l
sed -n '/fig/,/cherry/{=;p}' w.txt
sed '1!G;h;$!d' w.txt
sed -e '$a\' -e 'the end' w.txt | tail -n 2
cp w.txt w2.txt; sed -i 's/kiwi/KIWI/' w2.txt; grep -c KIWI w2.txt
cp w.txt w3.txt; sed -i.bak '1d' w3.txt; wc -l < w3.txt; wc -l < w3.txt.bak
printf 'a\tb\n' | sed 's/\t/<TAB>/'
echo 'hello' | sed 'y/helo/HELO/'
seq 1 10 | sed -n '0~3p'
seq 1 100000 | sed -n '$p'
sed --debug -n 1p w.txt >/dev/null 2>&1; echo "debug $?"
sed 's/x/y' w.txt 2>&1; echo "bad $?"
sed --version | head -n 1
`, map[string]string{"w.txt": sampleText}),
	sh("grep", `
grep -n apple w.txt; grep -c a w.txt; grep -v a w.txt; grep -E '^[0-9]+$' w.txt
grep -r --include='*.txt' -l fig . | sort
grep -o 'an' w.txt | wc -l; grep -w fig w.txt; grep -i APPLE w.txt | head -n 1
grep nothing w.txt; echo "none $?"; grep x /nonexistent; echo "missing $?"
seq 1 100000 | grep -c 7
grep -P 'a(?=n)' w.txt
`, map[string]string{"w.txt": sampleText}),
}

var pythonCases = []tcase{
	py("python-json", `
import json, sys
data = {"name": "elfuse", "list": [1, 2.5, None, True, "x"], "nested": {"a": {"b": [{}]}}, "unicode": "h\u00e9llo \u2603"}
s = json.dumps(data, sort_keys=True)
print(s)
print(json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False))
back = json.loads(s)
print(back == data, type(back["list"][1]).__name__)
with open("d.json", "w") as f:
    json.dump([data] * 3, f)
with open("d.json") as f:
    print(len(json.load(f)))
try:
    json.loads("{bad")
except json.JSONDecodeError as e:
    print("error:", e)
big = {"k%d" % i: list(range(i % 10)) for i in range(5000)}
print(len(json.dumps(big)), json.loads(json.dumps(big)) == big)
print(sys.version_info[:2] >= (3, 11))
`),
	py("python-sqlite3-memory", `
import sqlite3
db = sqlite3.connect(":memory:")
db.execute("create table t (id integer primary key, name text, v real)")
db.executemany("insert into t (name, v) values (?, ?)", [("n%d" % i, i * 1.5) for i in range(1000)])
db.commit()
print(db.execute("select count(*), sum(v), min(name), max(name) from t").fetchone())
print(db.execute("select name from t where id in (1, 500, 1000) order by id").fetchall())
db.execute("create index iv on t (v)")
print(db.execute("explain query plan select * from t where v > 100").fetchall()[0][-1])
print(sqlite3.sqlite_version_info >= (3, 40, 0))
db.close()
`),
	py("python-sqlite3-file", `
import sqlite3, os
db = sqlite3.connect("test.db")
db.execute("create table t (id integer primary key, name text)")
with db:
    db.executemany("insert into t (name) values (?)", [("row%d" % i,) for i in range(200)])
try:
    with db:
        db.execute("insert into t (name) values ('rolled back')")
        raise RuntimeError("abort")
except RuntimeError:
    pass
print(db.execute("select count(*) from t").fetchone())
db2 = sqlite3.connect("test.db")
print(db2.execute("select name from t order by id desc limit 2").fetchall())
db2.close()
db.execute("pragma journal_mode=wal")
with db:
    db.execute("delete from t where id % 2 = 0")
print(db.execute("select count(*) from t").fetchone())
db.close()
print(sorted(f for f in os.listdir(".") if f.startswith("test.db")))
`),
	py("python-subprocess", `
import subprocess, sys, os
r = subprocess.run(["echo", "hello", "world"], capture_output=True, text=True)
print(repr(r.stdout), r.returncode)
r = subprocess.run(["sh", "-c", "echo err >&2; exit 3"], capture_output=True, text=True)
print(repr(r.stderr), r.returncode)
r = subprocess.run("echo $DIFF_VAR | tr a-z A-Z", shell=True, capture_output=True, text=True)
print(r.stdout.strip())
p = subprocess.Popen(["sort", "-r"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
out, _ = p.communicate("a\nc\nb\n")
print(out.split(), p.returncode)
p1 = subprocess.Popen(["seq", "1", "1000"], stdout=subprocess.PIPE)
p2 = subprocess.Popen(["wc", "-l"], stdin=p1.stdout, stdout=subprocess.PIPE)
p1.stdout.close()
print(p2.communicate()[0].decode().strip(), p1.wait())
r = subprocess.run(["env"], env={"ONLY": "this"}, capture_output=True, text=True)
print(r.stdout.strip())
try:
    subprocess.run(["sleep", "10"], timeout=0.5)
except subprocess.TimeoutExpired as e:
    print("timeout", round(e.timeout, 2))
try:
    subprocess.run(["/nonexistent"])
except FileNotFoundError as e:
    print("not found", e.errno)
print(subprocess.check_output([sys.executable, "-c", "import os; print(os.getcwd())"], cwd="/").decode().strip())
print(subprocess.call(["sh", "-c", "kill -TERM $$"]))
big = subprocess.run(["seq", "1", "200000"], capture_output=True).stdout
print(len(big))
r = subprocess.run(["cat"], input=b"x" * 1000000, capture_output=True)
print(len(r.stdout))
`),
	py("python-threading", `
import threading, queue, concurrent.futures, time
lock = threading.Lock()
counter = 0
def work(n):
    global counter
    for _ in range(n):
        with lock:
            counter += 1
ts = [threading.Thread(target=work, args=(10000,)) for _ in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print("counter", counter)
q = queue.Queue()
def producer():
    for i in range(100): q.put(i)
    q.put(None)
out = []
def consumer():
    while (x := q.get()) is not None: out.append(x)
a, b = threading.Thread(target=producer), threading.Thread(target=consumer)
a.start(); b.start(); a.join(); b.join()
print("queue", sum(out), len(out))
cond = threading.Condition(); ready = []
def waiter():
    with cond:
        cond.wait_for(lambda: ready)
        print("waiter saw", ready[0])
w = threading.Thread(target=waiter); w.start()
time.sleep(0.05)
with cond:
    ready.append("go"); cond.notify_all()
w.join()
bar = threading.Barrier(4); hits = []
def bwork(i):
    bar.wait(); 
    with lock: hits.append(i)
bs = [threading.Thread(target=bwork, args=(i,)) for i in range(4)]
for t in bs: t.start()
for t in bs: t.join()
print("barrier", sorted(hits))
ev = threading.Event()
threading.Timer(0.05, ev.set).start()
print("event", ev.wait(5))
with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
    print("pool", list(ex.map(lambda x: x * x, range(10))))
loc = threading.local()
def tl(i, res):
    loc.v = i; time.sleep(0.01); res.append(loc.v == i)
res = []
ts = [threading.Thread(target=tl, args=(i, res)) for i in range(6)]
for t in ts: t.start()
for t in ts: t.join()
print("local", all(res), len(res), threading.active_count())
`),
	withTimeout(py("python-multiprocessing", `
import multiprocessing as mp, os
def sq(x): return x * x
def child(q, v):
    q.put(("child", v))
def exits(code): os._exit(code)
if __name__ == "__main__":
    print(mp.get_start_method())
    with mp.Pool(2) as pool:
        print(pool.map(sq, range(10)))
        print(pool.apply(sq, (7,)))
    q = mp.Queue()
    p = mp.Process(target=child, args=(q, 42)); p.start()
    print(q.get()); p.join(); print("exitcode", p.exitcode)
    p = mp.Process(target=exits, args=(3,)); p.start(); p.join(); print("exitcode", p.exitcode)
    v = mp.Value("i", 0); lk = mp.Lock()
    def inc(v, lk):
        for _ in range(100):
            with lk: v.value += 1
    ps = [mp.Process(target=inc, args=(v, lk)) for _ in range(3)]
    for p in ps: p.start()
    for p in ps: p.join()
    print("value", v.value)
    a, b = mp.Pipe()
    p = mp.Process(target=lambda c: c.send([1, "two", 3.0]), args=(b,)); p.start()
    print(a.recv()); p.join()
`), 120*time.Second),
	withTimeout(py("python-multiprocessing-spawn", `
import multiprocessing as mp
def sq(x): return x * x
if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=sq, args=(3,)); p.start(); p.join(); print("process exitcode", p.exitcode)
    q = ctx.Queue(); p = ctx.Process(target=q.put, args=("via queue",)); p.start(); print(q.get()); p.join()
    with ctx.Pool(1) as pool:
        print("spawn pool", pool.map(sq, [2, 3]))
    print("pool closed")
`), 60*time.Second),
	py("python-socket", `
import socket, threading, os
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0)); srv.listen(5)
port = srv.getsockname()[1]
def serve():
    for _ in range(2):
        c, _ = srv.accept()
        with c:
            data = b""
            while (chunk := c.recv(65536)): data += chunk
            c.sendall(data[::-1] if len(data) < 100 else str(len(data)).encode())
t = threading.Thread(target=serve); t.start()
for payload in (b"hello tcp", b"x" * 1000000):
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(payload); c.shutdown(socket.SHUT_WR)
    print(b"".join(iter(lambda: c.recv(65536), b"")))
    c.close()
t.join(); srv.close()
u1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u1.bind(("127.0.0.1", 0))
u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u2.sendto(b"datagram", u1.getsockname())
print(u1.recvfrom(100)[0])
a, b = socket.socketpair()
a.sendall(b"pair"); print(b.recv(10))
path = os.path.join(os.getcwd(), "sock")
us = socket.socket(socket.AF_UNIX); us.bind(path); us.listen(1)
uc = socket.socket(socket.AF_UNIX); uc.connect(path)
conn, _ = us.accept(); uc.sendall(b"unix"); print(conn.recv(10), us.getsockname() == path)
try:
    socket.create_connection(("127.0.0.1", 1), timeout=2)
except ConnectionRefusedError as e:
    print("refused", e.errno)
print(socket.getaddrinfo("127.0.0.1", 80, socket.AF_INET, socket.SOCK_STREAM)[0][4])
print(socket.inet_aton("10.1.2.3"), socket.htons(1))
print(sorted({ai[0].name for ai in socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)}))
`),
	py("python-hashlib", `
import hashlib, hmac, zlib, base64, binascii
data = b"".join(bytes([i % 251]) for i in range(1 << 20))
for name in ("md5", "sha1", "sha256", "sha512", "sha3_256", "blake2b", "blake2s"):
    print(name, hashlib.new(name, data).hexdigest()[:32])
print(hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 10000).hex())
print(hmac.new(b"key", b"msg", "sha256").hexdigest())
print(zlib.crc32(data), zlib.adler32(data), len(zlib.compress(data, 9)))
print(base64.b64encode(data[:30]).decode(), binascii.hexlify(data[:8]))
print(hashlib.scrypt(b"pw", salt=b"s", n=16, r=8, p=1).hex()[:32])
print(sorted(hashlib.algorithms_guaranteed))
`),
	withPrep(py("python-ssl", `
import ssl, socket, threading
print(ssl.OPENSSL_VERSION.split()[0], ssl.HAS_TLSv1_3)
srv_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
srv_ctx.load_cert_chain("cert.pem", "key.pem")
cli_ctx = ssl.create_default_context(cafile="cert.pem")
print("default verify", cli_ctx.verify_mode == ssl.CERT_REQUIRED, cli_ctx.check_hostname)
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(1)
def serve():
    c, _ = ls.accept()
    with srv_ctx.wrap_socket(c, server_side=True) as s:
        s.sendall(s.recv(100).upper())
t = threading.Thread(target=serve); t.start()
with socket.create_connection(ls.getsockname()) as raw:
    with cli_ctx.wrap_socket(raw, server_hostname="localhost") as s:
        print(s.version(), s.cipher()[0])
        print(s.getpeercert()["subject"])
        s.sendall(b"hello tls"); print(s.recv(100))
t.join()
ctx = ssl.create_default_context()
ctx.load_verify_locations(capath="/etc/ssl/certs")
print("system CA store loads", len(ctx.get_ca_certs()) >= 0)
ls2 = socket.socket(); ls2.bind(("127.0.0.1", 0)); ls2.listen(1)
def serve2():
    c, _ = ls2.accept()
    try:
        srv_ctx.wrap_socket(c, server_side=True)
    except ssl.SSLError:
        pass
    c.close()
t = threading.Thread(target=serve2); t.start()
try:
    with socket.create_connection(ls2.getsockname()) as raw:
        ssl.create_default_context().wrap_socket(raw, server_hostname="localhost")
except ssl.SSLCertVerificationError as e:
    print("untrusted:", e.verify_message)
t.join()
`), tlsCert),
	py("python-tempfile", `
import tempfile, os, shutil
td = os.environ["TMPDIR"]
print(tempfile.gettempdir() == td)
with tempfile.TemporaryDirectory() as d:
    print(os.path.dirname(d) == td, os.path.isdir(d), oct(os.stat(d).st_mode & 0o777))
    p = os.path.join(d, "f"); open(p, "w").write("x")
print(os.path.exists(d))
with tempfile.NamedTemporaryFile("w+", suffix=".txt") as f:
    f.write("hello"); f.flush(); f.seek(0)
    print(f.name.endswith(".txt"), f.read(), os.path.exists(f.name))
print(os.path.exists(f.name))
fd, name = tempfile.mkstemp(prefix="pre-")
os.write(fd, b"data"); os.close(fd)
print(os.path.basename(name).startswith("pre-"), oct(os.stat(name).st_mode & 0o777), os.path.getsize(name))
os.unlink(name)
with tempfile.TemporaryFile() as f:
    f.write(b"anon"); f.seek(0); print(f.read(), os.listdir(td) == [] or True)
with tempfile.SpooledTemporaryFile(max_size=10) as f:
    f.write(b"small"); print(f._rolled); f.write(b"x" * 100); print(f._rolled)
d = tempfile.mkdtemp(); shutil.copytree("/etc/apt", os.path.join(d, "apt")); print(sorted(os.listdir(os.path.join(d, "apt")))[:3]); shutil.rmtree(d)
print(sorted(os.listdir(td)))
`),
	py("python-os", `
import os, sys, stat, signal, time, locale, platform
print(os.getcwd() == os.environ["DISTRO_TMP"], sys.executable, sys.prefix)
print(os.uname().sysname, os.uname().machine, platform.system())
print(os.getuid(), os.getgid(), os.geteuid(), os.getgroups()[:1])
os.mkdir("d"); os.symlink("d", "l"); open("d/f", "w").write("abc")
print(sorted(os.listdir(".")), os.path.islink("l"), os.readlink("l"), os.path.realpath("l") == os.path.join(os.getcwd(), "d"))
st = os.stat("d/f"); print(stat.S_ISREG(st.st_mode), st.st_size)
os.utime("d/f", (1600000000, 1600000000)); print(os.stat("d/f").st_mtime)
os.rename("d/f", "d/g"); print(os.listdir("d"))
print([e.name for e in os.scandir(".")].sort() is None)
r, w = os.pipe(); os.write(w, b"pipe"); print(os.read(r, 10))
pid = os.fork()
if pid == 0:
    os._exit(7)
print(os.waitpid(pid, 0)[1] >> 8)
signal.signal(signal.SIGUSR1, lambda s, f: print("got", signal.Signals(s).name))
os.kill(os.getpid(), signal.SIGUSR1)
print(os.cpu_count() is not None, os.sysconf("SC_PAGE_SIZE"))
print(locale.getpreferredencoding(), sys.getfilesystemencoding())
t = time.monotonic(); time.sleep(0.05); print(0.04 < time.monotonic() - t < 2)
print(time.strftime("%Y-%m-%d", time.gmtime(1600000000)), time.tzname)
print(os.get_terminal_size.__name__, os.isatty(1))
print(open("/etc/os-release").read().splitlines()[0])
print(os.path.exists("/proc/self/fd/0"), os.getpid() > 0)
`),
	py("python-fcntl-locks", `
import fcntl, os, time, errno
fd = os.open("lockfile", os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b"0123456789")
fcntl.lockf(fd, fcntl.LOCK_EX, 4, 0)
pid = os.fork()
if pid == 0:
    f2 = os.open("lockfile", os.O_RDWR)
    try:
        fcntl.lockf(f2, fcntl.LOCK_EX | fcntl.LOCK_NB, 4, 0)
        print("child: got the parent's record lock", flush=True)
    except OSError as e:
        print("child: record lock busy", errno.errorcode[e.errno], flush=True)
    fcntl.lockf(f2, fcntl.LOCK_EX | fcntl.LOCK_NB, 4, 4)
    print("child: other range free", flush=True)
    try:
        fcntl.flock(f2, fcntl.LOCK_EX | fcntl.LOCK_NB)
        print("child: flock free", flush=True)
    except OSError as e:
        print("child: flock busy", flush=True)
    os._exit(0)
os.waitpid(pid, 0)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
pid = os.fork()
if pid == 0:
    f2 = os.open("lockfile", os.O_RDWR)
    try:
        fcntl.flock(f2, fcntl.LOCK_EX | fcntl.LOCK_NB)
        print("child: got the parent's flock", flush=True)
    except OSError as e:
        print("child: flock busy", errno.errorcode[e.errno], flush=True)
    os._exit(0)
os.waitpid(pid, 0)
print("parent done")
`),
	py("python-xattr", `
import os, errno
open("f", "w").write("x")
try:
    os.setxattr("f", "user.test", b"value")
    os.setxattr("f", "user.other", b"")
    print(os.getxattr("f", "user.test"), sorted(os.listxattr("f")))
    os.removexattr("f", "user.other")
    print(sorted(os.listxattr("f")))
    try:
        os.getxattr("f", "user.missing")
    except OSError as e:
        print("missing:", errno.errorcode[e.errno])
    try:
        os.setxattr("f", "user.test", b"v", os.XATTR_CREATE)
    except OSError as e:
        print("create existing:", errno.errorcode[e.errno])
    fd = os.open("f", os.O_RDONLY); print(os.getxattr(fd, "user.test")); os.close(fd)
    os.symlink("f", "l"); print(os.getxattr("l", "user.test"), os.listxattr("l", follow_symlinks=False))
except OSError as e:
    print("xattr error:", errno.errorcode.get(e.errno, e.errno))
`),
	py("python-statvfs", `
import os
st = os.statvfs(".")
print(st.f_bsize, st.f_frsize, st.f_namemax, st.f_blocks > 0, st.f_files > 0, st.f_bfree <= st.f_blocks)
fd = os.open(".", os.O_RDONLY); print(os.fstatvfs(fd).f_namemax); os.close(fd)
print(os.statvfs("/").f_bsize == st.f_bsize)
`),
	sh("statfs-shell", `
stat -f -c '%T %l %S %s' .
stat -f -c '%T' /
stat -f -c '%T' /proc
stat -f -c '%T' /dev/shm
`, nil),
	py("python-memfd", `
import os, mmap
fd = os.memfd_create("elfuse-test", os.MFD_CLOEXEC)
os.write(fd, b"hello memfd"); os.lseek(fd, 0, 0); print(os.read(fd, 100))
os.ftruncate(fd, 4096)
m = mmap.mmap(fd, 4096); m[0:5] = b"HELLO"; m.close()
print(os.pread(fd, 11, 0), os.fstat(fd).st_size)
print(os.readlink("/proc/self/fd/%d" % fd))
pid = os.fork()
if pid == 0:
    print("child reads", os.pread(fd, 5, 0), flush=True); os._exit(0)
os.waitpid(pid, 0)
`),
	py("python-procfs", `
import os
print(sorted(int(x) for x in os.listdir("/proc/self/fd"))[:3])
print(os.readlink("/proc/self/exe"))
print(open("/proc/self/cmdline", "rb").read().split(b"\0")[:2])
st = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
print(st["Name"].strip(), st["Pid"].strip() == str(os.getpid()), st["PPid"].strip() == str(os.getppid()), st["Uid"].split()[0])
print(int(os.readlink("/proc/self")) == os.getpid())
stat = open("/proc/self/stat").read()
print(stat.split()[0] == str(os.getpid()), stat.split()[1], stat.split()[2])
print(os.readlink("/proc/self/cwd") == os.getcwd())
print(sum(1 for l in open("/proc/cpuinfo") if l.startswith("processor")) == os.cpu_count())
print(open("/proc/meminfo").readline().split(":")[0])
print(sorted(open("/proc/self/environ").read().split("\0"))[1:4])
print(len(open("/proc/self/maps").read().splitlines()) > 5)
print(sum(1 for l in open("/proc/self/mounts")) > 0)
print(open("/proc/sys/kernel/ostype").read().strip(), os.path.exists("/proc/sys/kernel/pid_max"))
print(open("/proc/loadavg").read().count(" ") == 4, float(open("/proc/uptime").read().split()[0]) > 0)
pid = os.fork()
if pid == 0:
    print("child status Name", open("/proc/%d/status" % os.getpid()).readline().split()[1], flush=True); os._exit(0)
os.waitpid(pid, 0)
print(os.path.exists("/proc/%d" % pid))
`),
	sh("procfs-shell", `
readlink /proc/self/exe
tr '\0' ' ' < /proc/self/cmdline; echo
ls /proc/self/fd | sort -n | head -n 3
sh -c 'cat /proc/$$/comm'
grep -c ^processor /proc/cpuinfo | grep -qx "$(nproc)" && echo cpuinfo-matches-nproc
cut -d' ' -f2 /proc/self/stat
head -n 1 /proc/meminfo | cut -d: -f1
test -r /proc/version && echo version-readable
getconf _NPROCESSORS_ONLN | grep -qx "$(nproc)" && echo getconf-matches
`, nil),
	py("python-fileops", `
import os, shutil, select, mmap, signal
data = bytes(range(256)) * 40000
open("src", "wb").write(data)
shutil.copyfile("src", "dst1"); print(open("dst1", "rb").read() == data)
with open("src", "rb") as a, open("dst2", "wb") as b:
    n = 0
    while (k := os.sendfile(b.fileno(), a.fileno(), n, 1 << 20)) > 0: n += k
print(n, open("dst2", "rb").read() == data)
with open("src", "rb") as a, open("dst3", "wb") as b:
    print(os.copy_file_range(a.fileno(), b.fileno(), 1000), os.path.getsize("dst3"))
r, w = os.pipe()
with open("src", "rb") as a:
    print(os.splice(a.fileno(), w, 100), os.read(r, 100) == data[:100])
with open("src", "r+b") as f:
    m = mmap.mmap(f.fileno(), 0); m[0:3] = b"abc"; m.flush(); m.close()
print(open("src", "rb").read(3))
efd = os.eventfd(3); os.eventfd_write(efd, 4); print(os.eventfd_read(efd))
ep = select.epoll(); ep.register(r, select.EPOLLIN); os.write(w, b"x"); print(ep.poll(1))
pid = os.posix_spawn("/bin/sh", ["sh", "-c", "exit 9"], os.environ)
print(os.waitpid(pid, 0)[1] >> 8)
signal.setitimer(signal.ITIMER_REAL, 0.05); signal.signal(signal.SIGALRM, lambda *a: print("alarm")); signal.pause()
print(os.sched_getaffinity(0) == set(range(os.cpu_count())))
import resource; print(resource.getrlimit(resource.RLIMIT_NOFILE)[0] > 0)
`),
	py("python-pidfd", `
import os, select, signal
pid = os.fork()
if pid == 0:
    os._exit(4)
pfd = os.pidfd_open(pid)
print(select.select([pfd], [], [], 5)[0] == [pfd])
print(os.waitid(os.P_PIDFD, pfd, os.WEXITED).si_status)
pid = os.fork()
if pid == 0:
    signal.pause(); os._exit(0)
pfd = os.pidfd_open(pid); signal.pidfd_send_signal(pfd, signal.SIGTERM)
print(os.waitpid(pid, 0)[1] & 0x7f == signal.SIGTERM)
`),
	py("python-asyncio", `
import asyncio
async def echo(reader, writer):
    writer.write((await reader.readline()).upper()); await writer.drain(); writer.close()
async def main():
    srv = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"hello asyncio\n"); await w.drain(); print(await r.readline()); w.close()
    srv.close(); await srv.wait_closed()
    p = await asyncio.create_subprocess_exec("sh", "-c", "echo sub; exit 3", stdout=asyncio.subprocess.PIPE)
    out, _ = await p.communicate(); print(out, p.returncode)
    print(await asyncio.gather(*(asyncio.sleep(0.01 * i, result=i) for i in range(5))))
    try:
        await asyncio.wait_for(asyncio.sleep(5), 0.05)
    except asyncio.TimeoutError:
        print("wait_for timed out")
    loop = asyncio.get_running_loop()
    print(await loop.run_in_executor(None, sum, range(100)))
asyncio.run(main())
`),
	py("python-pty", `
import os, pty, termios, tty
pid, fd = pty.fork()
if pid == 0:
    print("in child, tty:", os.isatty(0)); os._exit(3)
out = b""
while True:
    try:
        b = os.read(fd, 1024)
    except OSError:
        break
    if not b: break
    out += b
print(out.replace(b"\r", b""), os.waitpid(pid, 0)[1] >> 8)
m, s = os.openpty()
attrs = termios.tcgetattr(s); tty.setraw(s); print(termios.tcgetattr(s)[3] & termios.ECHO == 0)
print(os.ttyname(s).startswith("/dev/pts/"))
`),
	sh("flock-getent", `
flock lk -c 'echo under flock'
( flock -n 9 && echo "holder got it" && sleep 0.5 ) 9>lk2 &
sleep 0.2
flock -n lk2 -c 'echo second got it' || echo "second refused: $?"
wait
getent passwd root; getent group root; getent hosts localhost | head -n 1
setsid sh -c 'echo setsid ok'
taskset -p 1 >/dev/null 2>&1; echo "taskset $?"
prlimit --nofile --output RESOURCE,SOFT 2>&1 | head -n 2
nice -n 5 nice; ionice -p $$ >/dev/null 2>&1; echo "ionice $?"
`, nil),
}

// stdlibTests are modules of CPython's own test suite (Debian's
// libpython3.11-testsuite) run by unittest as cases python-stdlib-NAME; a
// group of small pure-Python ones makes one case "misc".
var stdlibTests = map[string][]string{
	"json":     {"test.test_json"},
	"misc":     {"test.test_csv", "test.test_textwrap", "test.test_bisect", "test.test_heapq"},
	"fcntl":    {"test.test_fcntl"},
	"posix":    {"test.test_posix"},
	"os":       {"test.test_os"},
	"shutil":   {"test.test_shutil"},
	"tempfile": {"test.test_tempfile"},
	"epoll":    {"test.test_epoll"},
	"select":   {"test.test_select"},
	"mmap":     {"test.test_mmap"},
	"resource": {"test.test_resource"},
	"time":     {"test.test_time"},
	"pty":      {"test.test_pty"},
}

func stdlibCases() []tcase {
	var out []tcase
	for name, mods := range stdlibTests {
		script := `python3 -m unittest -q ` + strings.Join(mods, " ") +
			` 2>&1 | sed -E 's/ in [0-9.]+s$/ in Xs/; s/([Cc]hild) \([0-9]+\)/\1 (PID)/'; echo "status ${PIPESTATUS[0]}"`
		out = append(out, withTimeout(tcase{name: "python-stdlib-" + name, argv: []string{"/bin/bash", "-c", script}}, 300*time.Second))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

var toolCases = []tcase{
	{name: "perl-e", argv: []string{"/usr/bin/perl", "-e", `
use strict; use warnings;
my %h = (apple => 3, banana => 1, cherry => 2);
print join(",", map { "$_=$h{$_}" } sort keys %h), "\n";
print join(" ", sort { $h{$a} <=> $h{$b} } keys %h), "\n";
printf "%.6f %e %05d %x %s\n", atan2(1, 1) * 4, 12345.678, 42, 255, "str";
open(my $f, ">", "p.txt") or die "open: $!"; print $f "line $_\n" for 1 .. 5; close $f;
open($f, "<", "p.txt") or die; my @l = <$f>; close $f; print scalar(@l), " lines, size ", -s "p.txt", "\n";
print "match $1 $2\n" if "abc123def" =~ /^([a-z]+)(\d+)/;
(my $s = "hello world") =~ s/(\w+)/\u$1/g; print "$s\n";
my @w = split /,/, "a,b,,c"; print scalar(@w), "\n";
my $pid = fork(); if ($pid == 0) { exit 5 } waitpid($pid, 0); print "child ", $? >> 8, "\n";
my $out = ` + "`echo backtick`" + `; print $out;
print scalar(gmtime(1600000000)), "\n";
my @st = stat("p.txt"); print "mode ", sprintf("%o", $st[2] & 07777), "\n";
opendir(my $d, ".") or die; print join(" ", sort grep { !/^\./ } readdir $d), "\n";
local $SIG{ALRM} = sub { print "alarm\n" }; alarm 1; sleep 2;
use POSIX qw(floor ceil strftime); print floor(-2.5), " ", ceil(2.1), " ", strftime("%Y", gmtime(0)), "\n";
eval { die "oops\n" }; print "caught $@";
print "env $ENV{DIFF_VAR}\n";
my $sum = 0; $sum += $_ for 1 .. 100000; print "$sum\n";
printf "%s\n", join ",", map { sprintf "%02x", ord } split //, "AZ";
exit 3;
`}, exit: 3},
	sh("perl-modules", `
perl -MList::Util=sum,max,shuffle -e 'print sum(1..10), " ", max(3,9,2), "\n"'
perl -MData::Dumper -e '$Data::Dumper::Sortkeys = 1; print Dumper({a => [1, 2], b => "x"})'
perl -MDigest::MD5=md5_hex -e 'print md5_hex("abc"), "\n"'
perl -MDigest::SHA=sha256_hex -e 'print sha256_hex("abc"), "\n"'
perl -MFile::Temp=tempfile -e '($fh, $n) = tempfile(); print $fh "x"; close $fh; print -s $n, "\n"; unlink $n'
perl -MTime::Local -e 'print timegm(0, 0, 0, 1, 0, 2000), "\n"'
perl -MStorable=freeze,thaw -e 'print thaw(freeze([1, {a => 2}]))->[1]{a}, "\n"'
perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0") or die; print $s->sockport > 0 ? "listening\n" : "no\n"'
perl -ne 'print if /an/' w.txt; perl -pe 's/e/E/g' w.txt | head -n 2; perl -lane 'print $F[0]' w.txt | wc -l
perl -e 'print "perl ok\n"; exit 0'
perl -v | sed -n 2p
`, map[string]string{"w.txt": sampleText}),
	sh("git", `
set -e
git init -q -b main repo
cd repo
git config user.name "Elfuse Tester"; git config user.email tester@example.org
printf 'hello\n' > a.txt; mkdir sub; seq 1 100 > sub/b.txt
git add .
git commit -q -m "first commit"
git log --format='%H %an <%ae> %ad %s' --date=iso-strict
printf 'world\n' >> a.txt; echo new > c.txt
git status --short
git status
git diff
git add -A; git commit -q -m "second"
git log --oneline --stat
git rev-parse HEAD HEAD~1 HEAD^{tree}
git branch feature; git checkout -q feature; echo f > f.txt; git add f.txt; git commit -q -m feature
git checkout -q main; git merge -q --no-edit feature; git log --oneline --graph --all
git tag -a v1 -m "tag v1"; git describe
git show --stat HEAD~1 | head -n 6
git ls-files; git cat-file -p HEAD | head -n 1
git rm -q sub/b.txt; git status --short; git reset -q --hard
git stash list; git log -1 --format=%B
git gc -q --aggressive 2>&1; git count-objects -v | grep -E '^(count|in-pack|packs)'
git fsck 2>&1
cd .. && git clone -q repo clone && git -C clone log --oneline | wc -l
git -C repo grep -n hello
git --version
`, nil),
	tcase{name: "gcc-lm", files: map[string]string{"m.c": `
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
int main(int argc, char **argv) {
	double v[1000];
	for (int i = 0; i < 1000; i++) v[i] = sin(i * 0.37) * cos(i * 0.11) + sqrt(i);
	qsort(v, 1000, sizeof v[0], cmp);
	printf("min %.6f max %.6f median %.6f\n", v[0], v[999], v[500]);
	printf("pow %.3f exp %.6f log %.6f atan2 %.6f hypot %.3f\n", pow(2, 0.5), exp(1), log(10), atan2(1, -1), hypot(3, 4));
	printf("round %f %f %ld\n", round(2.5), floor(-1.5), lround(-2.5));
	char buf[64]; snprintf(buf, sizeof buf, "%s-%d", argv[0] + strlen(argv[0]) - 1, argc);
	puts(buf);
	return 0;
}
`}, argv: []string{"/bin/bash", "-c", `
gcc -O2 -Wall -o m m.c -lm && ./m a b
gcc -O2 -o m2 m.c -lm && cmp m m2 && echo reproducible
gcc -O2 -c m.c -o m.o && gcc -o m3 m.o -lm && ./m3 | head -n 1
gcc -O2 -o nolm m.c 2>&1 | grep -c 'undefined reference' ; echo "link without -lm: ${PIPESTATUS[0]}"
printf '#include <stdio.h>\nint main(void){puts("from stdin");return 4;}\n' | gcc -x c -o s - && ./s; echo "status $?"
gcc -E -dM - </dev/null | grep -c __x86_64__
gcc --version | head -n 1
`}},
	tcase{name: "make-j2", files: map[string]string{
		"Makefile": "CC = gcc\nCFLAGS = -O2 -Wall\nOBJS = main.o util.o calc.o\nprog: $(OBJS)\n\t$(CC) -o $@ $(OBJS) -lm\n%.o: %.c common.h\n\t$(CC) $(CFLAGS) -c -o $@ $<\nclean:\n\trm -f prog $(OBJS)\n.PHONY: clean\n",
		"common.h": "int util_twice(int);\ndouble calc_root(double);\n",
		"main.c":   "#include <stdio.h>\n#include \"common.h\"\nint main(void) { printf(\"%d %.4f\\n\", util_twice(21), calc_root(2)); return 0; }\n",
		"util.c":   "#include \"common.h\"\nint util_twice(int x) { return 2 * x; }\n",
		"calc.c":   "#include <math.h>\n#include \"common.h\"\ndouble calc_root(double x) { return sqrt(x); }\n",
	}, argv: []string{"/bin/bash", "-c", `
make -j2 -s && ./prog
make -j2; echo "again $?"
make -q; echo "question $?"
touch -d @1 util.o; make -j2 -s && ./prog
make -s clean; ls
make -j2 -s -O prog && ls *.o | wc -l
make nosuchtarget 2>&1; echo "missing target $?"
make --version | head -n 1
`}},
	sh("sqlite3-cli", `
sqlite3 db.sqlite 'create table t (a integer, b text); insert into t values (1, "one"), (2, "two"), (3, "three");'
sqlite3 db.sqlite 'select * from t order by a desc;'
sqlite3 -header -column db.sqlite 'select a, upper(b) as ub from t'
sqlite3 -json db.sqlite 'select * from t where a > 1'
printf 'begin;\ninsert into t values (4, "four");\ncommit;\nselect count(*) from t;\n.tables\n.schema t\n' | sqlite3 db.sqlite
sqlite3 :memory: 'with recursive c(x) as (select 1 union all select x+1 from c where x < 100000) select sum(x) from c'
sqlite3 db.sqlite 'select nonsense from t' 2>&1; echo "status $?"
sqlite3 db.sqlite .dump | head -n 4
sqlite3 db.sqlite 'pragma integrity_check'
sqlite3 -version | cut -d' ' -f1
`, nil),
	tcase{name: "dpkg-l", argv: []string{"/usr/bin/dpkg", "-l"}},
	sh("dpkg-query", `
dpkg-query -W -f '${Package} ${Status}\n' bash coreutils python3 | sort
dpkg -s gcc | grep -E '^(Package|Status)'
dpkg -L sed | grep -c /
dpkg -S /bin/ls
dpkg --print-architecture
`, nil),
	sh("ldd", `ldd /bin/ls | sed -E 's/ \(0x[0-9a-f]+\)//'; ldd /usr/bin/python3 | sed -E 's/ \(0x[0-9a-f]+\)//' | sort`, nil),
	tcase{name: "apt-get-version", argv: []string{"/usr/bin/apt-get", "--version"}},
	sh("apt-cache", `apt-config dump | grep -c . >/dev/null && echo config-ok; apt-cache policy 2>&1 | head -n 3; apt-get check 2>&1 | head -n 3`, nil),
	sh("abs-symlinks", `
echo content > target; mkdir dir; echo inner > dir/f
ln -s "$DISTRO_TMP/target" abs; ln -s "$DISTRO_TMP/dir" absdir; ln -s target rel
cat rel; cat abs; cat absdir/f; readlink abs; readlink -f abs
test -e abs && echo abs-exists; stat -L -c %s abs
ls absdir/
`, nil),
	sh("alternatives", `
readlink /etc/alternatives/awk; readlink -f /usr/bin/awk
awk --version 2>&1 | head -n 1
awk 'BEGIN { print "awk runs" }'
readlink -f /usr/bin/cc /usr/bin/c++ /usr/bin/pager /lib64/ld-linux-x86-64.so.2
cc --version | head -n 1
`, nil),
	sh("dash-script", `
cat > s.sh <<'EOF'
#!/bin/sh
set -e
for i in 1 2 3; do echo "dash $i"; done
f() { echo "args $#"; }; f a b
echo $(( 6 * 7 ))
[ -n "$DIFF_VAR" ] && echo "var [$DIFF_VAR]"
exit 2
EOF
chmod +x s.sh; ./s.sh; echo "status $?"
sh -c 'echo "$0 $1"' zero one
`, nil),
}

// muslSources are C programs built with the host's musl-gcc (dynamic, not
// -static) and run through /lib/ld-musl-x86_64.so.1 of the musl sysroot.
var muslSources = map[string]string{
	"musl-hello": `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <time.h>
int main(int argc, char **argv) {
	char cwd[4096];
	printf("argc %d argv1 %s\n", argc, argc > 1 ? argv[1] : "-");
	printf("env %s\n", getenv("DIFF_VAR"));
	printf("cwd ok %d\n", getcwd(cwd, sizeof cwd) != NULL && strcmp(cwd, getenv("DISTRO_TMP")) == 0);
	FILE *f = fopen("out.txt", "w"); for (int i = 0; i < 1000; i++) fprintf(f, "%d\n", i); fclose(f);
	f = fopen("out.txt", "r"); long sum = 0; int x; while (fscanf(f, "%d", &x) == 1) sum += x; fclose(f);
	printf("sum %ld\n", sum);
	DIR *d = opendir("."); int n = 0; struct dirent *e; while ((e = readdir(d))) n++; closedir(d);
	printf("entries %d\n", n);
	time_t t = 1600000000; struct tm tm; gmtime_r(&t, &tm); char b[64]; strftime(b, sizeof b, "%F %T", &tm); puts(b);
	void *p = malloc(1 << 24); memset(p, 1, 1 << 24); free(p);
	printf("ld-musl %s\n", access("/lib/ld-musl-x86_64.so.1", X_OK) == 0 ? "present" : "absent");
	return argc > 1 ? atoi(argv[1]) : 0;
}
`,
	"musl-threads": `
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <unistd.h>
#include <sys/wait.h>
#include <dlfcn.h>
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static __thread int tls;
static void *work(void *arg) {
	tls = (int)(long)arg;
	for (int i = 0; i < 100000; i++) { pthread_mutex_lock(&mu); counter++; pthread_mutex_unlock(&mu); }
	return (void *)(long)(tls * 2);
}
int main(void) {
	pthread_t t[8]; long ret = 0;
	for (long i = 0; i < 8; i++) pthread_create(&t[i], NULL, work, (void *)i);
	for (int i = 0; i < 8; i++) { void *r; pthread_join(t[i], &r); ret += (long)r; }
	printf("counter %ld ret %ld\n", counter, ret);
	printf("sqrt %.6f\n", sqrt(2.0));
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) { execl("./musl-hello", "musl-hello", "5", NULL); _exit(127); }
	int st; waitpid(p, &st, 0);
	printf("child status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	void *h = dlopen("libc.so", RTLD_NOW);
	printf("dlopen %s\n", h ? "ok" : "failed");
	return 0;
}
`,
}

var (
	muslOnce  sync.Once
	muslBins  map[string]string
	muslError error
)

// buildMusl compiles muslSources once per test run into a temporary
// directory of the host.
func buildMusl(t *testing.T) (map[string]string, error) {
	muslOnce.Do(func() {
		dir, err := os.MkdirTemp("", "elfuse-distro-musl")
		if err != nil {
			muslError = err
			return
		}
		muslBins = map[string]string{}
		for name, src := range muslSources {
			c := filepath.Join(dir, name+".c")
			if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
				muslError = err
				return
			}
			bin := filepath.Join(dir, name)
			if out, err := exec.Command("musl-gcc", "-O2", "-o", bin, c, "-lpthread", "-lm").CombinedOutput(); err != nil {
				muslError = fmt.Errorf("musl-gcc %s: %v: %s (install musl-tools)", name, err, out)
				return
			}
			muslBins[name] = bin
		}
	})
	return muslBins, muslError
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}

func muslCases(t *testing.T) []tcase {
	prep := func(names ...string) func(dir string) error {
		return func(dir string) error {
			bins, err := buildMusl(t)
			if err != nil {
				return err
			}
			for _, n := range names {
				if err := copyFile(bins[n], filepath.Join(dir, n), 0o755); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return []tcase{
		{name: "musl-hello", root: "musl", prep: prep("musl-hello"), argv: []string{"./musl-hello", "3"}, exit: 3},
		{name: "musl-ldso", root: "musl", prep: prep("musl-hello"), argv: []string{"/lib/ld-musl-x86_64.so.1", "./musl-hello"}},
		{name: "musl-ldso-usage", root: "musl", argv: []string{"/lib/ld-musl-x86_64.so.1"}, exit: 1},
		{name: "musl-threads", root: "musl", prep: prep("musl-threads", "musl-hello"), argv: []string{"./musl-threads"}},
	}
}
