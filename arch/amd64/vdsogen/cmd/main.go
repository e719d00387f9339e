// Command vdsogen regenerates zvdso.go from vdso/ (go generate ./arch/amd64).
package main

import (
	"log"
	"os"
	"path/filepath"

	"github.com/elfuse/elfuse/arch/amd64/vdsogen"
)

func main() {
	dir, err := filepath.Abs("vdso")
	if err != nil {
		log.Fatal(err)
	}
	out, err := vdsogen.Generate(dir, "amd64")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("zvdso.go", out, 0o644); err != nil {
		log.Fatal(err)
	}
}
