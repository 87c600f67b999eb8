// Command stamp prints version.Get(); TestStamp builds it with the -X flags
// scripts/release.sh passes.
package main

import (
	"fmt"

	"github.com/tsclientwatch/tsclientwatch/internal/version"
)

func main() { fmt.Println(version.Get()) }
