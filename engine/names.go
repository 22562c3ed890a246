package engine

import (
	"fmt"
	"math/rand/v2"
)

// Words for generated container names, in Docker's adjective_surname style.
var (
	nameLeft  = []string{"admiring", "agitated", "amazing", "angry", "awesome", "blissful", "bold", "brave", "busy", "charming", "clever", "cool", "dazzling", "determined", "eager", "ecstatic", "elegant", "epic", "festive", "focused", "friendly", "gallant", "gifted", "happy", "hopeful", "jolly", "keen", "kind", "laughing", "lucid", "magical", "modest", "nice", "nifty", "optimistic", "peaceful", "practical", "quirky", "relaxed", "serene", "sharp", "silly", "stoic", "sweet", "tender", "trusting", "upbeat", "vibrant", "wizardly", "zealous"}
	nameRight = []string{"albattani", "babbage", "bardeen", "bell", "blackwell", "bohr", "booth", "cannon", "curie", "darwin", "dijkstra", "einstein", "euclid", "faraday", "fermi", "feynman", "franklin", "galileo", "gauss", "goldberg", "hamilton", "hopper", "hypatia", "johnson", "kepler", "knuth", "lamport", "liskov", "lovelace", "mayer", "mccarthy", "meitner", "newton", "noether", "pascal", "pike", "ritchie", "shannon", "sinoussi", "swartz", "tesla", "thompson", "torvalds", "turing", "wilson", "wozniak", "wright", "yalow", "yonath", "zhukovsky"}
)

func randomName(withNumber bool) string {
	n := nameLeft[rand.IntN(len(nameLeft))] + "_" + nameRight[rand.IntN(len(nameRight))]
	if withNumber {
		n += fmt.Sprint(rand.IntN(10))
	}
	return n
}
