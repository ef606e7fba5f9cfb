package main

import uuid "github.com/satori/go.uuid"

func main() { println(uuid.Name) }
