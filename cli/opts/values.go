package opts

import "strconv"

// The Optional* types are flag values that remember whether the user set them, so an
// unset flag leaves the image's or daemon's default alone (docker's flags.Changed checks).
// They satisfy pflag.Value without this package importing a CLI library.

// OptionalInt is an int flag value that records whether it was set.
type OptionalInt struct {
	Value int
	IsSet bool
}

// Set parses s as the value.
func (o *OptionalInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return err
	}
	o.Value, o.IsSet = n, true
	return nil
}

func (o *OptionalInt) String() string {
	if !o.IsSet {
		return ""
	}
	return strconv.Itoa(o.Value)
}

// Type names the value for help output.
func (o *OptionalInt) Type() string { return "int" }

// Ptr returns a pointer to the value, or nil when unset.
func (o *OptionalInt) Ptr() *int {
	if !o.IsSet {
		return nil
	}
	v := o.Value
	return &v
}

// OptionalString is a string flag value that records whether it was set, even to "".
type OptionalString struct {
	Value string
	IsSet bool
}

// Set stores s.
func (o *OptionalString) Set(s string) error { o.Value, o.IsSet = s, true; return nil }

func (o *OptionalString) String() string { return o.Value }

// Type names the value for help output.
func (o *OptionalString) Type() string { return "string" }

// OptionalBool is a bool flag value that records whether it was set.
type OptionalBool struct {
	Value bool
	IsSet bool
}

// Set parses s as a bool.
func (o *OptionalBool) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	o.Value, o.IsSet = b, true
	return nil
}

func (o *OptionalBool) String() string { return strconv.FormatBool(o.Value) }

// Type names the value for help output; "bool" makes cobra show it without an argument.
func (o *OptionalBool) Type() string { return "bool" }

// IsBoolFlag lets pflag accept the flag without a value.
func (o *OptionalBool) IsBoolFlag() bool { return true }

// Ptr returns a pointer to the value, or nil when unset.
func (o *OptionalBool) Ptr() *bool {
	if !o.IsSet {
		return nil
	}
	v := o.Value
	return &v
}
