package segment

import "time"

var base = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
