package builtin_test

import (
	"fmt"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
)

// The CO2 series has real gaps: the caller says how to treat them.
func ExampleCO2() {
	_, err := builtin.CO2(data.FillNone)
	fmt.Println(err)
	s, err := builtin.CO2(data.FillInterpolate)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(s.Values), "weeks,", len(s.Filled), "interpolated, from", s.Labels[0])
	// Output:
	// builtin/timeseries/co2-maunaloa-weekly-1958-2001.csv: column "co2": 59 missing values (lines 8, 11, 12, 13, 14, ...); choose a fill (FillDrop, FillInterpolate)
	// 2284 weeks, 59 interpolated, from 19580329
}

func ExampleMobyDick() {
	text, err := builtin.MobyDick()
	if err != nil {
		fmt.Println(err)
		return
	}
	v, err := data.NewCharVocab(data.ASCIIQuotes(text))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(v.Size(), "ids: the unknown symbol and 80 characters")
	fmt.Printf("%q is the most frequent character\n", v.Symbol(1))
	// Output:
	// 81 ids: the unknown symbol and 80 characters
	// ' ' is the most frequent character
}
