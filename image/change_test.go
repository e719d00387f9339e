package image_test

import (
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/elfuse/elfuse/image"
)

func TestApplyChanges(t *testing.T) {
	cases := []struct {
		changes []string
		want    v1.Config
	}{
		{[]string{`CMD ["/bin/sh", "-c", "echo a,b"]`}, v1.Config{Cmd: []string{"/bin/sh", "-c", "echo a,b"}}},
		{[]string{`cmd echo $HOME`}, v1.Config{Cmd: []string{"/bin/sh", "-c", "echo $HOME"}}},
		{[]string{`CMD []`}, v1.Config{Cmd: []string{}}},
		{[]string{`ENTRYPOINT ["/bin/busybox"]`, `CMD ["sh"]`}, v1.Config{Entrypoint: []string{"/bin/busybox"}, Cmd: []string{"sh"}}},
		{[]string{`ENTRYPOINT [not json`}, v1.Config{Entrypoint: []string{"/bin/sh", "-c", "[not json"}}},
		{[]string{"ENV PATH=/bin", `ENV PATH=/usr/bin:$PATH A="x y" B='$PATH' C=\$D`},
			v1.Config{Env: []string{"PATH=/usr/bin:/bin", "A=x y", "B=$PATH", "C=$D"}}},
		{[]string{"ENV GREETING hello  big world"}, v1.Config{Env: []string{"GREETING=hello  big world"}}},
		{[]string{"ENV A=1", "ENV B=${A:-x}${C:-dflt}${A:+set}${C:+unset} D=\"${A}b\""},
			v1.Config{Env: []string{"A=1", "B=1dfltset", "D=1b"}}},
		{[]string{"ENV A=old", "ENV A=new B=$A"}, v1.Config{Env: []string{"A=new", "B=old"}}},
		{[]string{`LABEL a=b "c d"="e f"`, "LABEL legacy value here"},
			v1.Config{Labels: map[string]string{"a": "b", "c d": "e f", "legacy": "value here"}}},
		{[]string{"EXPOSE 80 53/udp 8000-8002/TCP"},
			v1.Config{ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}, "8002/tcp": {}}}},
		{[]string{`VOLUME ["/data", "/logs"]`, "VOLUME /cache"},
			v1.Config{Volumes: map[string]struct{}{"/data": {}, "/logs": {}, "/cache": {}}}},
		{[]string{"WORKDIR /a", "WORKDIR b", "WORKDIR ../c"}, v1.Config{WorkingDir: "/a/c"}},
		{[]string{"ENV D=/srv", "WORKDIR $D/app", "USER 1000:1000", "STOPSIGNAL SIGINT"},
			v1.Config{Env: []string{"D=/srv"}, WorkingDir: "/srv/app", User: "1000:1000", StopSignal: "SIGINT"}},
		{[]string{"ONBUILD RUN make"}, v1.Config{OnBuild: []string{"RUN make"}}},
		{[]string{"CMD \\\n [\"a\"]"}, v1.Config{Cmd: []string{"a"}}},
	}
	for _, c := range cases {
		var got v1.Config
		if err := image.ApplyChanges(&got, c.changes); err != nil {
			t.Errorf("%q: %v", c.changes, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", c.changes, got, c.want)
		}
	}
}

func TestApplyChangesErrors(t *testing.T) {
	for change, want := range map[string]string{
		"":                    "empty instruction",
		"RUN make":            "unsupported instruction RUN",
		"HEALTHCHECK NONE":    "unsupported instruction",
		"ENV":                 "missing",
		"ENV ONLYNAME":        "no value",
		"ENV =x":              "not NAME=value",
		"ENV A=1 B":           "not NAME=value",
		`ENV A="unterminated`: "unterminated",
		"ENV A='unterminated": "unterminated",
		"ENV A=${B":           "missing }",
		"ENV A=${B#x}":        "unsupported substitution",
		"EXPOSE":              "at least one port",
		"EXPOSE 0":            "bad port",
		"EXPOSE 70000":        "bad port",
		"EXPOSE 90-80":        "bad port",
		"EXPOSE 80/icmp":      "unknown protocol",
		"VOLUME":              "at least one path",
		"USER":                "needs one argument",
		"WORKDIR":             "needs one argument",
		"ONBUILD":             "needs an instruction",
	} {
		var cfg v1.Config
		err := image.ApplyChanges(&cfg, []string{change})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", change, err, want)
		}
	}
}
