"""The container lifecycle, one verb per module (as youki's libcontainer/container/).

Each verb is a function taking the Engine facade first (for the store, the image
store and the container lookup) and the verb's own arguments; the facade's methods
of the same names delegate here.  The verbs import each other in one direction
(restart -> stop/start/pause, repair -> start) and never import the facade."""
