package prefix

import "strings"

// maxPatterns bounds the expansion of one- or two-digit date variables into
// "?" and "??" alternatives; beyond it they widen to "*".
const maxPatterns = 32

// PolicyPatterns returns IAM wildcard patterns ("*" any run of characters,
// "?" one character) for a least-privilege policy: list holds the values
// of an s3:prefix condition that cover every prefix Trawl lists for this
// template (its literal list prefix, the account folders of a "*", each
// date folder), objects the key patterns of everything it reads. An empty
// template (the whole bucket) gives no list patterns: no condition.
//
// Each date variable becomes the exact number of "?" it can fill (YYYY is
// four, mm two, m one or two), and "*" in place of the account becomes
// twelve "?" (or aws-account-id= and twelve "?"), so a pattern cannot
// reach a sibling folder that shares a name's beginning.
func (t *Template) PolicyPatterns() (list, objects []string) {
	if t.raw == "" {
		return nil, []string{"*"}
	}
	objects = appendSuffix(t.expand(t.segs), "/*")
	if !t.HasVars() {
		return []string{t.raw + "/*"}, objects
	}
	list = []string{policyLiteral(t.ListPrefix())}
	// Below the literal prefix Trawl lists either walked folders (no date
	// variables: everything under the expanded template) or rendered date
	// folders, cut where render stops (at a minute variable, the only
	// place a rendering ends without "/").
	cut, complete := t.segs, true
	for i, s := range t.segs {
		if s.Var == Minute1 || s.Var == Minute2 {
			cut, complete = t.segs[:i], false
			break
		}
	}
	tail := "/*"
	if !complete {
		tail = "*"
	}
	list = append(list, appendSuffix(t.expand(cut), tail)...)
	return list, objects
}

// expand writes segs as patterns: one per combination of the widths a
// variable can take.
func (t *Template) expand(segs []Segment) []string {
	out := []string{""}
	widen := false
	n := 1
	for _, s := range segs {
		n *= len(alternatives(s.Var, false))
	}
	if n > maxPatterns {
		widen = true
	}
	for _, s := range segs {
		alts := []string{policyLiteral(s.Lit)}
		if s.Var != noVarName {
			alts = alternatives(s.Var, widen)
		}
		next := make([]string, 0, len(out)*len(alts))
		for _, p := range out {
			for _, a := range alts {
				next = append(next, p+a)
			}
		}
		out = next
	}
	return out
}

func alternatives(v Var, widen bool) []string {
	switch v {
	case noVarName:
		return []string{""}
	case Year:
		return []string{"????"}
	case Month2, Day2, Hour2, Minute2:
		return []string{"??"}
	case Month1, Day1, Hour1, Minute1:
		if widen {
			return []string{"*"}
		}
		return []string{"?", "??"}
	case Wildcard:
		return []string{"????????????", "aws-account-id=????????????"}
	}
	return []string{"*"}
}

// policyLiteral escapes what IAM would read as a policy variable.
func policyLiteral(s string) string { return strings.ReplaceAll(s, "${", "${$}{") }

func appendSuffix(ps []string, suffix string) []string {
	for i := range ps {
		ps[i] += suffix
	}
	return ps
}
