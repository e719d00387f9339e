// Command tablegen regenerates ztable_amd64.go from amd64.tbl (go generate ./syscall).
package main

import (
	"log"
	"os"

	"github.com/elfuse/elfuse/syscall/tablegen"
)

func main() {
	out, err := tablegen.Generate("amd64.tbl", "syscall", "amd64Table")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("ztable_amd64.go", out, 0o644); err != nil {
		log.Fatal(err)
	}
}
