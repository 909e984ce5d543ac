package ssmcli

import "sort"

// closeMatches is Python's difflib.get_close_matches(word, possibilities,
// n, cutoff), used for "maybe you meant" suggestions.
func closeMatches(word string, possibilities []string, n int, cutoff float64) []string {
	type scored struct {
		score float64
		s     string
	}
	var res []scored
	b := []rune(word)
	for _, x := range possibilities {
		a := []rune(x)
		if r := matchRatio(a, b); r >= cutoff {
			res = append(res, scored{r, x})
		}
	}
	sort.Slice(res, func(i, j int) bool {
		if res[i].score != res[j].score {
			return res[i].score > res[j].score
		}
		return res[i].s > res[j].s
	})
	var out []string
	for i := 0; i < len(res) && i < n; i++ {
		out = append(out, res[i].s)
	}
	return out
}

// matchRatio is SequenceMatcher(None, a, b).ratio().
func matchRatio(a, b []rune) float64 {
	t := len(a) + len(b)
	if t == 0 {
		return 1
	}
	b2j := map[rune][]int{}
	for j, r := range b {
		b2j[r] = append(b2j[r], j)
	}
	return 2 * float64(matchingChars(a, b, b2j, 0, len(a), 0, len(b))) / float64(t)
}

func matchingChars(a, b []rune, b2j map[rune][]int, alo, ahi, blo, bhi int) int {
	i, j, k := longestMatch(a, b2j, alo, ahi, blo, bhi)
	if k == 0 {
		return 0
	}
	n := k
	if alo < i && blo < j {
		n += matchingChars(a, b, b2j, alo, i, blo, j)
	}
	if i+k < ahi && j+k < bhi {
		n += matchingChars(a, b, b2j, i+k, ahi, j+k, bhi)
	}
	return n
}

func longestMatch(a []rune, b2j map[rune][]int, alo, ahi, blo, bhi int) (int, int, int) {
	besti, bestj, bestsize := alo, blo, 0
	j2len := map[int]int{}
	for i := alo; i < ahi; i++ {
		newj2len := map[int]int{}
		for _, j := range b2j[a[i]] {
			if j < blo {
				continue
			}
			if j >= bhi {
				break
			}
			k := j2len[j-1] + 1
			newj2len[j] = k
			if k > bestsize {
				besti, bestj, bestsize = i-k+1, j-k+1, k
			}
		}
		j2len = newj2len
	}
	return besti, bestj, bestsize
}
