"""`kubectl slipway dashboard`: a live web page of the Releases, served on 127.0.0.1.

view.py renders the page's content as a pure function of what the watches hold; server.py keeps the
watches, pushes every change to the open pages (server-sent events) and sends the buttons' requests
through the plugin's own functions; static/index.html is the page around them.
"""
