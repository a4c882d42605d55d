package api

import _ "embed"

// openAPI documents the API; a test checks every route is in it.
//
//go:embed openapi.json
var openAPI []byte
