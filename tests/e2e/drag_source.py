#!/usr/bin/python3
"""A tiny GTK3 window that offers the given files as a real OS drag source (text/uri-list).

The end-to-end test presses the mouse on it with xdotool and releases over the LexiNaut
window, so the app receives a genuine drag-and-drop from the display server.
Usage: drag_source.py X Y PATH...   (window placed at X,Y; exits when the drag ends)
"""
import sys
from pathlib import Path

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, Gtk  # noqa: E402

x, y = int(sys.argv[1]), int(sys.argv[2])
uris = [Path(p).resolve().as_uri() for p in sys.argv[3:]]

win = Gtk.Window(title="lexinaut-drag-source")
win.set_default_size(160, 100)
win.move(x, y)
button = Gtk.Button(label="drag me")
win.add(button)
button.drag_source_set(Gdk.ModifierType.BUTTON1_MASK, [], Gdk.DragAction.COPY)
button.drag_source_add_uri_targets()
button.connect("drag-data-get", lambda _w, _c, data, _i, _t: data.set_uris(uris))
button.connect("drag-end", lambda *_: Gtk.main_quit())
win.connect("destroy", Gtk.main_quit)
win.show_all()
print("ready", flush=True)
Gtk.main()
