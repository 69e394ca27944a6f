package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"
)

// What the man page and the shell completions say of the CLI, read from
// its definition (newApp), so that a new command or flag appears in them
// without anyone editing a generator.

// flagDoc describes one flag.
type flagDoc struct {
	names       []string // the primary name first, then the aliases
	value       string   // the placeholder of a flag that takes a value (`N` in its usage); "" for a switch
	usage       string   // usage text, placeholders unquoted as --help shows it
	defaultText string   // as --help shows it; "" for none
	repeatable  bool
}

// valueKind says how a shell completes the value of a flag: by its
// placeholder word, FILE and PATH are file names, DIR a directory.
type valueKind int

const (
	valueText valueKind = iota // free text (a number, an address, a unit name...)
	valueFile
	valueDir
)

func (f flagDoc) kind() valueKind {
	switch f.value {
	case "FILE", "PATH":
		return valueFile
	case "DIR":
		return valueDir
	}
	return valueText
}

// dashed returns the names with their dashes: "--listen", "-l".
func (f flagDoc) dashed() []string {
	out := make([]string, len(f.names))
	for i, n := range f.names {
		out[i] = dashName(n)
	}
	return out
}

func dashName(n string) string {
	if len(n) == 1 {
		return "-" + n
	}
	return "--" + n
}

// placeholder splits a usage text like urfave/cli does: the first
// `backquoted` word is the value's placeholder, shown without its quotes.
func placeholder(usage string) (string, string) {
	i := strings.IndexByte(usage, '`')
	if i < 0 {
		return "", usage
	}
	j := strings.IndexByte(usage[i+1:], '`')
	if j < 0 {
		return "", usage
	}
	name := usage[i+1 : i+1+j]
	return name, usage[:i] + name + usage[i+1+j+1:]
}

var (
	shellWordRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	placeholderRe = regexp.MustCompile(`^[A-Z][A-Z0-9_]*(\[:[A-Z]+\])?$|^[a-z]+(\|[a-z]+)+$|^[A-Z]+=[A-Z]+$`)
)

// docFlags describes flags (hidden ones left out). Every flag that takes a
// value must name it with a `PLACEHOLDER` in its usage, and every name must
// be a plain shell word: the generators quote nothing else.
func docFlags(flags []cli.Flag) ([]flagDoc, error) {
	var out []flagDoc
	for _, f := range flags {
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
			continue
		}
		df, ok := f.(cli.DocGenerationFlag)
		if !ok {
			return nil, fmt.Errorf("flag %v: no documentation interface", f.Names())
		}
		d := flagDoc{names: df.Names()}
		for _, n := range d.names {
			if !shellWordRe.MatchString(n) {
				return nil, fmt.Errorf("flag name %q is not a plain word", n)
			}
		}
		d.value, d.usage = placeholder(df.GetUsage())
		if df.TakesValue() {
			if d.value == "" {
				return nil, fmt.Errorf("--%s takes a value but its usage names no `PLACEHOLDER`: %q", d.names[0], df.GetUsage())
			}
			if !placeholderRe.MatchString(d.value) {
				return nil, fmt.Errorf("--%s: placeholder %q is not a word like N, DIR, USER[:GROUP], K=V or a|b", d.names[0], d.value)
			}
		} else {
			d.value = ""
		}
		if bf, ok := f.(*cli.BoolFlag); !ok || !bf.DisableDefaultText {
			d.defaultText = df.GetDefaultText()
		}
		if sf, ok := f.(cli.DocGenerationSliceFlag); ok && sf.IsSliceFlag() {
			d.repeatable = true
		}
		out = append(out, d)
	}
	return out, nil
}

// helpFlag is the --help every command accepts.
func helpFlag() flagDoc {
	return flagDoc{names: []string{"help", "h"}, usage: "show help"}
}

// commandDoc describes one command.
type commandDoc struct {
	name, usage, argsUsage, description string
	flags                               []flagDoc // with --help last
	positional                          []string  // the words before --: NAME, PID
	commandLine                         bool      // takes "-- COMMAND [ARG...]"
}

// appDoc describes the CLI.
type appDoc struct {
	name, usage string
	flags       []flagDoc // the global ones: --help, --version
	commands    []commandDoc
}

func describeApp(app *cli.App) (appDoc, error) {
	app.Setup()
	doc := appDoc{name: app.Name, usage: app.Usage}
	var err error
	if doc.flags, err = docFlags(app.VisibleFlags()); err != nil {
		return doc, err
	}
	for _, c := range app.VisibleCommands() {
		if !shellWordRe.MatchString(c.Name) {
			return doc, fmt.Errorf("command name %q is not a plain word", c.Name)
		}
		cd := commandDoc{name: c.Name, usage: c.Usage, argsUsage: c.ArgsUsage, description: c.Description}
		if cd.flags, err = docFlags(c.VisibleFlags()); err != nil {
			return doc, fmt.Errorf("%s: %w", c.Name, err)
		}
		hasHelp := false
		for _, f := range cd.flags {
			hasHelp = hasHelp || f.names[0] == "help"
		}
		if !hasHelp && !c.HideHelp {
			cd.flags = append(cd.flags, helpFlag())
		}
		before, _, dashdash := strings.Cut(c.ArgsUsage, "--")
		cd.commandLine = dashdash
		for _, w := range strings.Fields(before) {
			cd.positional = append(cd.positional, strings.Trim(w, "[]."))
		}
		doc.commands = append(doc.commands, cd)
	}
	return doc, nil
}
