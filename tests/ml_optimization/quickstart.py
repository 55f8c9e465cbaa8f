import asyncio
from ml_optimization import (
    MLOptimizationOrchestrator,
    MLOptimizationConfig,
    FeatureConfig,
    FlinkConfig,
    DDPGConfig,
    ContextualBanditConfig,
    DeviceManagerConfig,
    ExplanationConfig
)

# Configure the system
config = MLOptimizationConfig(
    feature_store_config=FeatureConfig(
        redis_host="localhost",
        cache_ttl=300
    ),
    etl_config=FlinkConfig(
        parallelism=4,
        buffer_size=10000
    ),
    ddpg_config=DDPGConfig(
        state_dim=20,
        action_dim=3,
        hidden_dim=256
    ),
    bandit_config=ContextualBanditConfig(
        exploration_rate=0.1,
        max_concurrent_strategies=3
    ),
    device_config=DeviceManagerConfig(
        auto_detect=True,
        enable_mixed_precision=True
    ),
    explanation_config=ExplanationConfig(
        enable_real_time_explanation=True,
        shap_sample_size=100
    )
)

# Initialize and run the system
async def main():
    async with MLOptimizationOrchestrator(config) as ml_system:
        # Process market data
        market_data = {
            'symbol': 'BTC-USD',
            'exchange': 'coinbase',
            'price': 45000.0,
            'volume': 1.5,
            'bid_price': 44995.0,
            'ask_price': 45005.0,
            'timestamp': '2024-01-01T12:00:00Z'
        }
        
        # Generate trading decision
        decision = await ml_system.process_market_data(market_data)
        
        if decision and not decision.vetoed:
            print(f"Trading Decision:")
            print(f"  Symbol: {decision.symbol}")
            print(f"  Action: {decision.action}")
            print(f"  Position Size: {decision.position_size:.4f}")
            print(f"  Confidence: {decision.confidence:.4f}")
            print(f"  Expected Return: {decision.expected_return:.4f}")
            print(f"  Risk Score: {decision.risk_score:.4f}")
            print(f"  Strategy: {decision.strategy}")
            
            if decision.explanation:
                print(f"  Explanation: {decision.explanation['method']}")
                print(f"  Top Features: {decision.explanation['top_features']}")
        
        # Get system status
        status = ml_system.get_system_status()
        print(f"\nSystem Status: {status['status']}")
        print(f"Active Models: {status['active_models']}")
        print(f"Decisions Generated: {status['decisions_generated']}")
        print(f"Daily PnL: {status['daily_pnl']:.4f}")

# Run the system
asyncio.run(main())
