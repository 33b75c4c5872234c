"""KServe's Python model server serving an XGBoost model over OIP v2, the way KServe's own
xgbserver does (load a Booster, predict on the request's rows), for bench/runtime/compare.sh.

    python kserve_xgboost.py --model_name NAME --model_path model.json --http_port P --grpc_port G

REST on --http_port and OIP v2 gRPC (inference.GRPCInferenceService) on --grpc_port; the rest of
KServe's defaults as its own servers start (one uvicorn worker, latency logging on).
"""
import argparse

import numpy as np
import xgboost as xgb
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from kserve import model_server


class XGBoostModel(Model):
    def __init__(self, name, path):
        super().__init__(name)
        self.path = path
        self.booster = None

    def load(self):
        self.booster = xgb.Booster(params={"nthread": 1}, model_file=self.path)
        self.ready = True
        return True

    def predict(self, payload: InferRequest, headers=None) -> InferResponse:
        rows = payload.inputs[0].as_numpy().astype(np.float32)
        if rows.ndim == 1:
            rows = rows.reshape(1, -1)
        out = self.booster.inplace_predict(rows)
        output = InferOutput(name="predict", shape=list(out.shape), datatype="FP32",
                             data=out.tolist())
        return InferResponse(response_id=payload.id or "", model_name=self.name,
                             infer_outputs=[output])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[model_server.parser])
    parser.add_argument("--model_path", required=True)
    args, _ = parser.parse_known_args()
    model = XGBoostModel(args.model_name, args.model_path)
    model.load()
    ModelServer(http_port=args.http_port, grpc_port=args.grpc_port, workers=1,
                enable_grpc=True).start([model])
