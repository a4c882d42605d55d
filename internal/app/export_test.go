package app

import "testing"

func TestCSVField(t *testing.T) {
	for in, want := range map[string]string{
		"":                    `""`,
		"plain":               `"plain"`,
		`a "quoted", word`:    `"a ""quoted"", word"`,
		`=HYPERLINK("x","y")`: `"'=HYPERLINK(""x"",""y"")"`,
		"+1":                  `"'+1"`,
		"-1+2":                `"'-1+2"`,
		"@SUM(A1)":            `"'@SUM(A1)"`,
		"\t=1":                "\"'\t=1\"",
		"\r=1":                "\"'\r=1\"",
		"a=1":                 `"a=1"`,
		"'=1":                 `"'=1"`,
	} {
		if got := CSVField(in); got != want {
			t.Errorf("CSVField(%q) = %s, want %s", in, got, want)
		}
	}
}
