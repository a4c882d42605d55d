package detect

import (
	"strings"
	"testing"
)

func TestCheckID(t *testing.T) {
	for _, id := range []string{"a", "acme-list_users.v2", strings.Repeat("x", 128), "0b9a2f1c-1234-4cde-8f00-123456789abc"} {
		if err := CheckID(id); err != nil {
			t.Errorf("%q refused: %v", id, err)
		}
	}
	for id, says := range map[string]string{"": "empty", "..": "'.'", ".x": "'.'", "a/b": "letters", "a\x00b": "letters",
		strings.Repeat("x", 129): "at most 128", "<b>x</b>": "letters", "é": "letters", "a b": "letters"} {
		if err := CheckID(id); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%.20q: %v, want an error saying %q", id, err, says)
		}
	}
	for id, want := range map[string]bool{"trawl-ct-001": true, "TRAWL-ct-001": true, "Trawl-x": true, "trawl": false, "mytrawl-x": false} {
		if Reserved(id) != want {
			t.Errorf("Reserved(%q) = %v", id, !want)
		}
	}
}

func TestCheckLogsource(t *testing.T) {
	for ls, says := range map[Logsource]string{
		{}: "", {Product: "aws"}: "", {Product: "aws", Service: "vpcflow"}: "", {Service: "waf"}: "",
		{Product: "windows"}: "windows", {Product: "aws", Service: "route53"}: "", {Product: "aws", Service: "s3"}: "s3",
		{Product: "aws", Service: "alb"}: "", {Product: "aws", Service: "elb"}: "elb",
		{Product: "aws", Service: "s3access"}:          "",
		{Product: "aws", Service: "guardduty"}:         "",
		{Product: "aws", Category: "process_creation"}: "process_creation", {Service: "CloudTrail"}: "CloudTrail",
	} {
		err := (&Rule{Logsource: ls}).CheckLogsource()
		if (says == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), says)) {
			t.Errorf("%+v: %v, want %q", ls, err, says)
		}
	}
}
