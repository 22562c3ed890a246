// Package builder turns a Dockerfile and a build context into an image, the
// way Docker's classic builder does: one image per instruction, RUN in a real
// container, a persistent layer cache, docker JSON progress messages.
package builder
