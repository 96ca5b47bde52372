module hupwatch-recipe

go 1.21
