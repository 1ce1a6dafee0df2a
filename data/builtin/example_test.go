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

// The 8x8 digits, drawn from their values: a training set of 1,437 and a test set of 360.
func ExampleDigits8x8() {
	train, test, err := builtin.Digits8x8()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(train.Len(), "training and", test.Len(), "test images of", train.H, "x", train.W)
	img := train.Float32s(0)
	for y := range 8 {
		row := ""
		for x := range 8 {
			row += string(" .:-=+*#@"[int(img[y*8+x]*8)])
		}
		fmt.Printf("|%s|\n", row)
	}
	fmt.Println("label", train.Labels[0])
	// Output:
	// 1437 training and 360 test images of 8 x 8
	// |  :*=   |
	// |  *#+#: |
	// | .#. += |
	// | :*  == |
	// | :=  == |
	// | :+  *- |
	// | .#:+*  |
	// |  -*+   |
	// label 0
}
