package cli

import "flag"

// flagSet remembers which flags were given, so an edit changes only those.
type flagSet struct{ *flag.FlagSet }

func (f *flagSet) set() map[string]bool {
	m := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { m[fl.Name] = true })
	return m
}
