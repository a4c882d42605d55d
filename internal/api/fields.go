package api

import "github.com/trawlhq/trawl/internal/interflow"

type fieldInfo struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Source string `json:"source"`
}

func fieldList() map[string][]fieldInfo {
	out := map[string][]fieldInfo{}
	for _, s := range interflow.Schemas() {
		for _, f := range s.Fields {
			out[s.Index] = append(out[s.Index], fieldInfo{f.Name, f.Type.String(), f.Source})
		}
	}
	return out
}
