package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"-h"}, {"help"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 0 {
			t.Errorf("%v: exit %d", args, code)
		}
		if !strings.Contains(out.String(), "usage: demo <subcommand>") {
			t.Errorf("%v: usage not printed: %q", args, out.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"nope"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `unknown subcommand "nope"`) {
		t.Errorf("unknown subcommand: exit %d, %q", code, errb.String())
	}
}
