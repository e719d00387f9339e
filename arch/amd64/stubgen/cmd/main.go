// Command stubgen regenerates zstub.go from stub.S (run by go generate in arch/amd64).
package main

import (
	"log"
	"os"

	"github.com/elfuse/elfuse/arch/amd64/stubgen"
)

func main() {
	out, err := stubgen.Generate("stub.S", "amd64")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("zstub.go", out, 0o644); err != nil {
		log.Fatal(err)
	}
}
