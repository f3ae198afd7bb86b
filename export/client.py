"""Requests to a TF Serving deployment of an exported flow.

REST (port 8501) takes a JSON body; gRPC (port 8500) a `PredictRequest`
from the tensorflow-serving-api protos (`pip install '.[serving]'`).

  python -m export.client --grpc localhost:8500 --model flow --images x.npz
  python -m export.client --rest http://localhost:8501 --model flow --images x.npz
"""

import argparse
import json
import urllib.request

import numpy as np


def rest_body(images, signature='bits_per_dim'):
  """JSON body for POST /v1/models/<model>:predict (columnar format)."""
  return {'signature_name': signature,
          'inputs': {'images': np.asarray(images, np.uint8).tolist()}}


def grpc_request(images, model='flow', signature='bits_per_dim'):
  """A PredictRequest carrying uint8 images [N, H, W, C]."""
  import tensorflow as tf
  from tensorflow_serving.apis import predict_pb2
  request = predict_pb2.PredictRequest()
  request.model_spec.name = model
  request.model_spec.signature_name = signature
  request.inputs['images'].CopyFrom(
      tf.make_tensor_proto(np.asarray(images, np.uint8)))
  return request


def grpc_predict(address, images, model='flow', signature='bits_per_dim',
                 timeout=30.):
  """Sends `grpc_request` to a server; returns {output name: array}."""
  import grpc
  import tensorflow as tf
  from tensorflow_serving.apis import prediction_service_pb2_grpc
  with grpc.insecure_channel(address) as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    response = stub.Predict(grpc_request(images, model, signature), timeout)
  return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}


def rest_predict(url, images, model='flow', signature='bits_per_dim',
                 timeout=30.):
  """POSTs `rest_body` to <url>/v1/models/<model>:predict."""
  body = json.dumps(rest_body(images, signature)).encode()
  request = urllib.request.Request(f'{url}/v1/models/{model}:predict', body,
                                   {'Content-Type': 'application/json'})
  with urllib.request.urlopen(request, timeout=timeout) as response:
    return json.loads(response.read())['outputs']


def main(argv=None):
  parser = argparse.ArgumentParser(prog='python -m export.client')
  server = parser.add_mutually_exclusive_group(required=True)
  server.add_argument('--grpc', help='host:port of the gRPC endpoint')
  server.add_argument('--rest', help='http://host:port of the REST endpoint')
  parser.add_argument('--model', default='flow')
  parser.add_argument('--signature', default='bits_per_dim')
  parser.add_argument('--images', required=True,
                      help='.npz with uint8 images under "images"')
  args = parser.parse_args(argv)
  images = np.load(args.images)['images']
  if args.grpc:
    print(grpc_predict(args.grpc, images, args.model, args.signature))
  else:
    print(rest_predict(args.rest, images, args.model, args.signature))


if __name__ == '__main__':
  main()
