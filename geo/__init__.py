"""Places: dispatch zones and the geography every other record points into."""
