package prefix

import (
	"errors"
	"testing"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		tmpl  string
		key   string
		match bool
	}{
		{"AWSLogs/123456789012/CloudTrail/us-east-1", "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/01/x.json.gz", true},
		{"AWSLogs/123456789012/CloudTrail/us-east-1", "AWSLogs/123456789012/CloudTrail/us-east-10/2024/05/01/x.json.gz", false},
		{"AWSLogs/o-abc123defg/123456789012/CloudTrail", "AWSLogs/o-abc123defg/123456789012/CloudTrail/eu-west-1/2024/05/01/x", true},
		{"AWSLogs/o-abc123defg/*/CloudTrail/us-east-1", "AWSLogs/o-abc123defg/111122223333/CloudTrail/us-east-1/2024/05/01/x", true},
		{"AWSLogs/o-abc123defg/*/CloudTrail/us-east-1", "AWSLogs/o-abc123defg/111122223333/Config/us-east-1/x", false},
		{"ct/o-abc/AWSLogs/o-abc/*/CloudTrail/us-east-1", "ct/o-abc/AWSLogs/o-abc/444455556666/CloudTrail/us-east-1/2024/01/01/f", true},
		{"logs/year=///YYYY///month=///mm//", "logs/year=/2020/month=/10/file.gz", true},
		{"logs/year=///YYYY///month=///mm//", "logs/year=/2020/month=/13/file.gz", false},
		{"CustomPrefix/year=///YYYY///month=///mm///day=///dd//", "CustomPrefix/year=/2020/month=/10/day=/27/f", true},
		// Adjacent variables: one literal '/' between two tokens' own slashes.
		{"p///YYYY/////m/////d/////H/////M//", "p/2024/5/7/3/9/f", true},
		{"p///YYYY/////m/////d/////H/////M//", "p/2024/05/07/03/09/f", true},
		{"p///YYYY/////HH//", "p/2024/24/f", false},
		{"p///YYYY/////HH//", "p/2024/23/f", true},
		{"", "anything/at/all", true},
	}
	for _, c := range cases {
		tp, err := Parse(c.tmpl, Options{AllowWildcard: true})
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.tmpl, err)
		}
		if got := tp.Match(c.key); got != c.match {
			t.Errorf("%q Match(%q) = %v, want %v", c.tmpl, c.key, got, c.match)
		}
	}
}

func TestListPrefix(t *testing.T) {
	for tmpl, want := range map[string]string{
		"AWSLogs/123456789012/CloudTrail":   "AWSLogs/123456789012/CloudTrail/",
		"AWSLogs/o-abc/*/CloudTrail":        "AWSLogs/o-abc/",
		"logs/year=///YYYY///month=///mm//": "logs/year=/",
		"":                                  "",
	} {
		tp, err := Parse(tmpl, Options{AllowWildcard: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := tp.ListPrefix(); got != want {
			t.Errorf("ListPrefix(%q) = %q, want %q", tmpl, got, want)
		}
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		tmpl string
		wild bool
		pos  int
	}{
		{"AWSLogs/123/", true, 11},
		{"/AWSLogs", true, 0},
		{"AWSLogs/*/CloudTrail", false, 8},
		{"AWSLogs/12*/CloudTrail", true, 10},
		{"AWSLogs/*/x/*/y", true, 12},
		{"logs///YYY//", true, 5},
		{"logs/é", true, 5},
	}
	for _, c := range cases {
		_, err := Parse(c.tmpl, Options{AllowWildcard: c.wild})
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q): want an error, got %v", c.tmpl, err)
			continue
		}
		if pe.Pos != c.pos {
			t.Errorf("Parse(%q): error at %d, want %d (%s)", c.tmpl, pe.Pos, c.pos, pe.Msg)
		}
	}
}

func TestAccount(t *testing.T) {
	for key, want := range map[string]string{
		"AWSLogs/123456789012/CloudTrail/us-east-1/x":                  "123456789012",
		"x/AWSLogs/o-abc123defg/123456789012/CloudTrail/us-east-1/x":   "123456789012",
		"AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/": "123456789012",
		"other/123456789012/x": "",
	} {
		if got := Account(key); got != want {
			t.Errorf("Account(%q) = %q, want %q", key, got, want)
		}
	}
}
