// astis_get (Go example): fetch secrets through the ASTIS pod SDK's Go
// package (cgo over libastis).
//
//	export ASTIS_EDGE_URL=https://edge.example:8443 ASTIS_API_KEY=astis_...
//	CGO_CFLAGS=-I/usr/local/include CGO_LDFLAGS=-L/usr/local/lib go run . db-password
//
// All names are fetched in one batch. Prints each secret's size, never its
// value.
package main

import (
	"errors"
	"fmt"
	"os"

	"astis.dev/astis"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: astis_get_go NAME...")
		os.Exit(2)
	}
	client, err := astis.New(astis.Config{FromEnv: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "astis:", err)
		os.Exit(1)
	}
	defer client.Close()
	names := os.Args[1:]
	secrets, err := client.GetMany(names)
	if err != nil {
		var e *astis.Error
		if errors.As(err, &e) {
			fmt.Fprintf(os.Stderr, "astis: %s: %s\n", e.Code, e.Message)
		}
		client.Close()
		os.Exit(1)
	}
	for i, s := range secrets {
		fmt.Printf("%s: %d bytes\n", names[i], s.Len())
		s.Release() // zeroes the plaintext
	}
}
