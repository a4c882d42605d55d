package notify

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bodies to Parse, seeded with every golden input,
// and checks what callers rely on: no panic; every Object names a bucket and
// a key; Ignored is a known Reason, set exactly when there is no object, and
// then explained by a Detail.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.json")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"Type":"Notification","TopicArn":"t","Message":"{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":\"a%2\"}}}]}"}`))
	f.Add([]byte(`{"s3Bucket":"b","s3ObjectKey":["",1,"k"]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m := Parse(body)
		for i, o := range m.Objects {
			if o.Bucket == "" || o.Key == "" {
				t.Fatalf("object %d has bucket %q key %q: %+v", i, o.Bucket, o.Key, m)
			}
		}
		if (m.Ignored == "") != (len(m.Objects) > 0) {
			t.Fatalf("Ignored %q with %d objects: %+v", m.Ignored, len(m.Objects), m)
		}
		switch m.Ignored {
		case "":
			if m.Detail != "" {
				t.Fatalf("a Detail without Ignored: %+v", m)
			}
		case ReasonTestEvent, ReasonUnparseable, ReasonNotCreated, ReasonSubscription:
			if m.Detail == "" {
				t.Fatalf("Ignored %q without a Detail: %+v", m.Ignored, m)
			}
		default:
			t.Fatalf("unknown reason %q", m.Ignored)
		}
	})
}
