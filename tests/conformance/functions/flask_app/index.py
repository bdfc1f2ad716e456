# A Flask app as the handler of an HTTP function (handler "index.app"), as FC's Flask
# examples deploy it; Flask itself is pip-installed into the code directory by the build.
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/", methods=["GET"])
def index():
    return "hello from flask"


@app.route("/users/<name>", methods=["POST"])
def greet(name):
    return jsonify(name=name, body=request.get_data(as_text=True), query=request.args.get("q"))
